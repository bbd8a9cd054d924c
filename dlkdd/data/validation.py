"""Up-front checks of a split, before the first step: every listed file exists, and every file has
been probed once (through the manifest) so unusable ones are dropped before they reach a worker."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dlkdd.data.manifest import Manifest
from dlkdd.data.sources import VideoItem

# A single frame shows no motion: such a file is an image, not an action clip.
MIN_FRAMES = 2
SHOWN_MISSING = 5


@dataclass(frozen=True)
class CheckedSplit:
    items: list[VideoItem]  # the usable videos
    num_frames: list[int]  # per usable video, from the manifest
    broken: dict[str, str]  # path -> why it was dropped
    total: int  # videos the split names


def check_missing(split: str, items: list[VideoItem], root: Path) -> None:
    """One error for every listed file that is not there: the count, the first few, the root searched."""
    missing = [item.path for item in items if not os.path.isfile(item.path)]
    if missing:
        shown = "\n  ".join(str(p) for p in missing[:SHOWN_MISSING])
        more = f"\n  ... and {len(missing) - SHOWN_MISSING} more" if len(missing) > SHOWN_MISSING else ""
        raise FileNotFoundError(
            f"{len(missing)} of the {len(items)} videos of the {split} split are missing under the data "
            f"root {Path(root).resolve()} (--data.root):\n  {shown}{more}\n"
            "Check that --data.root is the folder the list's paths are relative to, and --data.split."
        )


def check_split(
    split: str, items: list[VideoItem], root: Path, manifest: Manifest, workers: int
) -> CheckedSplit:
    check_missing(split, items, root)
    paths = [Path(os.path.abspath(item.path)) for item in items]
    records = manifest.lookup(paths, workers=workers)
    usable, num_frames, broken = [], [], {}
    for item, path in zip(items, paths, strict=True):
        record = records[path]
        if record.error is not None:
            broken[str(item.path)] = record.error
        elif record.info.num_frames < MIN_FRAMES:
            broken[str(item.path)] = f"{record.info.num_frames} frame(s): too short to show an action"
        else:
            usable.append(item)
            num_frames.append(record.info.num_frames)
    return CheckedSplit(usable, num_frames, broken, len(items))
