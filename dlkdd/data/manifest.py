"""A cache of video metadata (frame count, fps, size, or why the file is unreadable), keyed by path,
size and mtime, so a second run over 10k videos starts in seconds instead of re-opening every file."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm import tqdm

from dlkdd.data.decode import VideoDecodeError, VideoInfo, probe

MANIFEST_NAME = ".dlkdd_manifest.json"
VERSION = 1


@dataclass(frozen=True)
class VideoRecord:
    """What one probe found: the metadata, or the reason the file cannot be used (`error`)."""

    size: int
    mtime_ns: int
    info: VideoInfo | None = None
    error: str | None = None


def default_manifest_path(root: Path) -> Path:
    """Beside the data when the root is writable (it travels with the dataset), otherwise in the user
    cache (~/.cache/dlkdd/manifests), one file per dataset root."""
    if os.access(root, os.W_OK):
        return root / MANIFEST_NAME
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "dlkdd" / "manifests"
    digest = hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:16]
    return cache / f"{root.name}-{digest}.json"


def _probe_record(path: Path, stat: os.stat_result) -> VideoRecord:
    if stat.st_size == 0:
        return VideoRecord(0, stat.st_mtime_ns, error=f"{path}: empty file (0 bytes)")
    try:
        info = probe(path, decode_first_frame=True)
    except VideoDecodeError as err:
        return VideoRecord(stat.st_size, stat.st_mtime_ns, error=str(err))
    return VideoRecord(stat.st_size, stat.st_mtime_ns, info=info)


class Manifest:
    """path -> VideoRecord, loaded from and saved to one JSON file."""

    def __init__(self, file: Path) -> None:
        self.file = Path(file)
        self.records: dict[str, VideoRecord] = {}
        try:
            data = json.loads(self.file.read_text())
        except (OSError, ValueError):
            return  # no manifest yet (or a damaged one): everything is probed again
        if data.get("version") == VERSION:
            for path, rec in data["videos"].items():
                info = VideoInfo(**rec["info"]) if rec.get("info") else None
                self.records[path] = VideoRecord(rec["size"], rec["mtime_ns"], info, rec.get("error"))

    def lookup(self, paths: Iterable[Path], workers: int = 8, progress: bool = True
               ) -> dict[Path, VideoRecord]:
        """Records for `paths` (existing files), probing only the new or changed ones, then saving."""
        paths = list(dict.fromkeys(paths))
        stats = {path: path.stat() for path in paths}
        stale = [p for p in paths if not self._fresh(p, stats[p])]
        if stale:
            # Probing is mostly waiting on FFmpeg (which releases the GIL) and the disk: threads suffice.
            with ThreadPoolExecutor(max(1, workers)) as pool, tqdm(
                total=len(stale), desc=f"probing videos (manifest {self.file})", file=sys.stderr,
                disable=not progress, mininterval=1.0,
            ) as bar:
                probed = pool.map(lambda p: _probe_record(p, stats[p]), stale)
                for path, record in zip(stale, probed, strict=True):
                    self.records[str(path)] = record
                    bar.update()
            self.save()
        return {p: self.records[str(p)] for p in paths}

    def _fresh(self, path: Path, stat: os.stat_result) -> bool:
        record = self.records.get(str(path))
        return record is not None and (record.size, record.mtime_ns) == (stat.st_size, stat.st_mtime_ns)

    def save(self) -> None:
        videos = {path: asdict(rec) for path, rec in self.records.items()}
        text = json.dumps({"version": VERSION, "videos": videos})
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            # Write then rename: a run killed mid-write (or two ranks at once) never leaves half a file.
            partial = self.file.with_name(f"{self.file.name}.{os.getpid()}.tmp")
            partial.write_text(text)
            partial.replace(self.file)
        except OSError as err:
            print(f"Could not save the video manifest {self.file} ({err}); set --data.manifest to a "
                  "writable file to start faster next time.", file=sys.stderr)
