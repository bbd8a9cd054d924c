"""Generated dark videos in the file formats and folder layouts the real datasets ship, to measure the
loader on what a user's disk holds rather than on the small synthetic mp4 files:

- ARID v1.0: MPEG-4 Part 2 (`mpeg4`, FFmpeg's default keyframe interval of 12 frames) in AVI,
  320x240, 30 fps, a few seconds each; `<root>/<Class>/<Class>_<a>_<b>.avi` and tab-separated lists
  `<root>/list_cvt/ARID_split1_{train,test}.txt` (read by --data.dataset=arid).
- Dark-48: H.264 mp4 (x264 defaults, so one keyframe per 250 frames, as web video re-encoded by
  FFmpeg), 640x360 and 480x360, 30 fps, longer clips; `<root>/<class>/<vid>.mp4` and lists
  `<root>/dark48_split1_{train,test}.txt` of `class/vid.mp4 label` lines (--data.dataset=dark48).

The pictures are the synthetic dataset's (dlkdd.synthetic.dataset: a moving textured object, then the
low-light sensor model), rendered at the file's own size and length; a video of class k moves like
synthetic class k mod 10. Only the layout, codec, size and length imitate the real datasets.
"""

from __future__ import annotations

import sys
import zlib
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from dlkdd.synthetic.dataset import (
    CLASS_NAMES,
    SyntheticConfig,
    degrade_low_light,
    render_clean_video,
)
from dlkdd.video import write_video

ARID_SIZE = (240, 320)  # (height, width)
DARK48_SIZES = ((360, 640), (360, 480))
FPS = 30
# ARID's encoding (dlkdd.video.VideoWriter's settings): MPEG-4 Part 2 (yuv420p) in AVI at 1 Mb/s.
ARID_ENCODING = {"codec": "mpeg4", "container_format": "avi", "options": None, "bit_rate": 1_000_000}


@dataclass(frozen=True)
class _Job:
    path: Path
    label: int
    size: tuple[int, int]
    num_frames: int
    seed: int
    avi: bool


def _render(job: _Job) -> None:
    """Top-level (picklable) worker: render, degrade and write one video."""
    height, width = job.size
    config = SyntheticConfig(num_frames=job.num_frames, height=height, width=width, fps=FPS)
    rng = np.random.default_rng([job.seed, job.label, zlib.crc32(job.path.name.encode())])
    frames = degrade_low_light(render_clean_video(job.label % len(CLASS_NAMES), rng, config), rng, True)
    job.path.parent.mkdir(parents=True, exist_ok=True)
    write_video(job.path, frames, FPS, **(ARID_ENCODING if job.avi else {}))


def _run(jobs: list[_Job], workers: int, progress: bool, what: str) -> None:
    with tqdm(total=len(jobs), desc=what, file=sys.stderr, disable=not progress) as bar:
        if workers <= 1:
            for job in jobs:
                _render(job)
                bar.update()
        else:
            with ProcessPoolExecutor(workers) as pool:
                for _ in pool.map(_render, jobs):
                    bar.update()


def _split(per_class: int) -> tuple[range, range]:
    """Per class: all videos but the last train, the last one test (with one video: both)."""
    if per_class < 2:
        return range(per_class), range(per_class)
    return range(per_class - 1), range(per_class - 1, per_class)


def generate_arid_like(root: str | Path, class_names: Sequence[str], per_class: int = 3, seconds: float = 4.0,
                       seed: int = 0, workers: int = 2, progress: bool = False) -> Path:
    """ARID v1.0-like dataset at `root`: a folder per name of `class_names` (ARID's own, or the first of
    them: dlkdd.data.sources.ARID_CLASSES, which the ARID reader labels by), `per_class` AVI videos per
    class of `seconds` at 30 fps; split 1 lists only."""
    root = Path(root)
    names = tuple(class_names)
    num_frames = max(2, round(seconds * FPS))
    jobs = {name: [_Job(root / name / f"{name}_{k + 1}_1.avi", label, ARID_SIZE, num_frames, seed, True)
                   for k in range(per_class)] for label, name in enumerate(names)}
    _run([j for js in jobs.values() for j in js], workers, progress, "ARID-like videos")
    train, test = _split(per_class)
    (root / "list_cvt").mkdir(parents=True, exist_ok=True)
    for split, picks in (("train", train), ("test", test)):
        rows = [j for js in jobs.values() for k, j in enumerate(js) if k in picks]
        lines = [f"{i}\t{j.label}\t{j.path.relative_to(root).as_posix()}\n" for i, j in enumerate(rows)]
        (root / "list_cvt" / f"ARID_split1_{split}.txt").write_text("".join(lines))
    return root


def generate_dark48_like(root: str | Path, classes: int = 4, per_class: int = 3, seconds: float = 8.0,
                         seed: int = 0, workers: int = 2, progress: bool = False) -> Path:
    """Dark-48-like dataset at `root`: `classes` class folders of `per_class` H.264 mp4 videos of
    `seconds` at 30 fps, alternating 640x360 and 480x360; split 1 lists only."""
    root = Path(root)
    names = [f"{CLASS_NAMES[k % len(CLASS_NAMES)]}{k // len(CLASS_NAMES) or ''}" for k in range(classes)]
    num_frames = max(2, round(seconds * FPS))
    jobs = {name: [_Job(root / name / f"{name}_{k:04d}.mp4", label, DARK48_SIZES[k % 2], num_frames, seed,
                        False) for k in range(per_class)] for label, name in enumerate(names)}
    _run([j for js in jobs.values() for j in js], workers, progress, "Dark-48-like videos")
    train, test = _split(per_class)
    for split, picks in (("train", train), ("test", test)):
        rows = [j for js in jobs.values() for k, j in enumerate(js) if k in picks]
        lines = [f"{j.path.relative_to(root).as_posix()} {j.label}\n" for j in rows]
        (root / f"dark48_split1_{split}.txt").write_text("".join(lines))
    return root
