"""The decoded-clip store: every video decoded once, at the training frame size, into one uint8 .npy
file per video (N, H, W, 3), which the workers read by memory map. A clip is then a copy of the
frames it names instead of a keyframe seek, a forward decode and a resize, so one core feeds many
times more clips; the frames are the decoder's own output (decode_clip, in chunks), so every clip is
identical to the one decoded from the original file, and training order, sampling and exact resume
are untouched.

Layout: <folder>/<H>x<W>/<path hash>-<version hash>.npy. The version hash covers the file's size,
mtime and frame count (the manifest's key) and the store's format, so a changed video gets a new
entry (and its old one is removed) and each decode setting (frame size) has its own folder.

Each entry is written once, atomically: under a per-entry lock (fcntl.flock on a `.lock` file beside
it) a builder that finds the entry missing decodes into a temporary file and renames it into place,
so DDP ranks, nodes sharing a filesystem or two runs at once never see half a file and never decode
a video twice. A video that fails to decode whole (damage after its first frames) gets a `.broken`
note instead and keeps being read from the original file, so it is skipped, counted and named
exactly as without the store.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path

import numpy as np
from tqdm import tqdm

from dlkdd.data.decode import VideoDecodeError, decode_clip

STORE_NAME = ".dlkdd_clip_store"
FORMAT = 1
CHUNK = 256  # frames decoded per decode_clip call: bounds the memory a long video needs while building


def default_store_folder(data_folder: Path) -> Path:
    """Beside the data when its folder is writable (like the manifest), else in the user cache
    (~/.cache/dlkdd/clip_store/<name>-<hash>)."""
    if os.access(data_folder, os.W_OK):
        return data_folder / STORE_NAME
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "dlkdd" / "clip_store"
    digest = hashlib.sha1(str(data_folder.resolve()).encode()).hexdigest()[:16]
    return cache / f"{data_folder.name}-{digest}"


def store_folder(option: bool | str, data_folder: Path) -> Path | None:
    """--data.clip_store: false -> no store, true -> the default folder, a path -> that folder."""
    if option is False or option is None or str(option).lower() in {"false", "0", "none", ""}:
        return None
    if option is True or str(option).lower() in {"true", "1"}:
        return default_store_folder(data_folder)
    return Path(option)


def read_frames(entry: Path, indices: Sequence[int]) -> np.ndarray:
    """Frames `indices` (repeats allowed) of a stored video as uint8 (len(indices), H, W, 3)."""
    return np.ascontiguousarray(np.load(entry, mmap_mode="r")[np.asarray(indices, dtype=np.int64)])


class ClipStore:
    """Entries of one store folder at one frame size."""

    def __init__(self, folder: str | Path, frame_size: Sequence[int], chunk: int = CHUNK) -> None:
        self.chunk = chunk
        self.frame_size = (int(frame_size[0]), int(frame_size[1]))
        self.folder = Path(folder) / f"{self.frame_size[0]}x{self.frame_size[1]}"
        self.written: list[Path] = []  # entries this object decoded (the others were there already)

    def entry(self, path: Path, num_frames: int) -> Path:
        """Where `path` (as it is now on disk, with `num_frames` frames) is stored."""
        stat = os.stat(path)
        where = hashlib.sha1(os.path.abspath(path).encode()).hexdigest()[:16]
        key = f"{stat.st_size}:{stat.st_mtime_ns}:{num_frames}:{FORMAT}"
        return self.folder / f"{where}-{hashlib.sha1(key.encode()).hexdigest()[:12]}.npy"

    def build(self, paths: Sequence[Path], num_frames: Sequence[int], workers: int = 2,
              time_limit: float | None = None, progress: bool = True) -> list[Path | None]:
        """The entry of each video, decoding the ones not stored yet; None for a video read from its
        original file (it could not be decoded whole)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        entries = [self.entry(Path(p), n) for p, n in zip(paths, num_frames, strict=True)]
        todo = [k for k, e in enumerate(entries) if not e.is_file() and not _broken_note(e).is_file()]
        needed = sum(num_frames[k] for k in todo) * self.frame_size[0] * self.frame_size[1] * 3
        if needed > shutil.disk_usage(self.folder).free:
            raise ValueError(self._no_room(f"needs {needed / 1e9:.1f} GB more, {self.folder} has "
                                           f"{shutil.disk_usage(self.folder).free / 1e9:.1f} GB free"))
        if todo:
            # Decoding is FFmpeg and swscale, which release the GIL: threads use the cores.
            with ThreadPoolExecutor(max(1, workers)) as pool, tqdm(
                total=len(todo), desc=f"decoding videos into the clip store {self.folder}", file=sys.stderr,
                disable=not progress, mininterval=1.0,
            ) as bar:
                jobs = [pool.submit(self._write, Path(paths[k]), num_frames[k], entries[k], time_limit)
                        for k in todo]
                for k, job in zip(todo, jobs, strict=True):
                    try:
                        if job.result():
                            self.written.append(entries[k])
                    except OSError as err:  # the store's disk, not the video: the user must act
                        raise ValueError(self._no_room(str(err))) from err
                    bar.update()
        return [e if e.is_file() else None for e in entries]

    def _no_room(self, why: str) -> str:
        return (f"Cannot write the clip store {self.folder} ({why}). Point --data.clip_store at a writable "
                "folder with room (1.96 MB per second of 30 fps video at 170x128), or set "
                "--data.clip_store false to decode the original files.")

    def _write(self, path: Path, num_frames: int, entry: Path, time_limit: float | None) -> bool:
        """Decode `path` into `entry` unless another builder has; True when this call wrote it."""
        lock = entry.with_suffix(".lock")
        with open(lock, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                if entry.is_file() or _broken_note(entry).is_file():
                    return False
                partial = entry.with_name(f"{entry.name}.{os.getpid()}.{threading.get_ident()}.tmp")
                try:
                    self._decode_into(path, num_frames, partial, time_limit)
                    os.replace(partial, entry)  # atomic: readers see no file or the whole file
                except VideoDecodeError as err:
                    _write_atomically(_broken_note(entry), str(err))
                finally:
                    partial.unlink(missing_ok=True)
                for old in self.folder.glob(f"{entry.name.split('-')[0]}-*"):  # the video's older versions
                    if old.suffix in {".npy", ".broken"} and old.stem != entry.stem:
                        old.unlink(missing_ok=True)
                return True
            finally:
                # Safe to remove: whoever takes a lock checks for the entry first, and it exists by now.
                with suppress(OSError):
                    lock.unlink()

    def _decode_into(self, path: Path, num_frames: int, partial: Path, time_limit: float | None) -> None:
        height, width = self.frame_size
        shape = (num_frames, height, width, 3)
        out = np.lib.format.open_memmap(partial, mode="w+", dtype=np.uint8, shape=shape)
        try:
            for start in range(0, num_frames, self.chunk):
                stop = min(start + self.chunk, num_frames)
                out[start:stop] = decode_clip(path, range(start, stop), self.frame_size, time_limit)
            out.flush()
        finally:
            del out


def _broken_note(entry: Path) -> Path:
    return entry.with_suffix(".broken")


def _write_atomically(target: Path, text: str) -> None:
    partial = target.with_name(f"{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    partial.write_text(text)
    os.replace(partial, target)


def disk_bytes(entries: Sequence[Path | None]) -> int:
    return sum(e.stat().st_size for e in entries if e is not None)
