"""Which file each DataLoader worker is decoding, kept where a worker that dies leaves it behind.

A dying worker leaves no message of its own: each worker keeps the path it is decoding in a small file
named after its pid, in a folder named after the process that started it. The dataset marks; the
WorkerDeathReport callback (dlkdd.callbacks.faults) reads the mark of a worker that died, and clears them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from torch.utils.data import get_worker_info


def _marker_folder(parent_pid: int) -> Path:
    return Path(tempfile.gettempdir()) / f"dlkdd-decoding-{parent_pid}"


def mark_decoding(path: str | os.PathLike) -> None:
    """Called by the dataset before it decodes a file; a no-op outside DataLoader workers."""
    if get_worker_info() is None:
        return
    folder = _marker_folder(os.getppid())
    folder.mkdir(exist_ok=True)
    # Written aside, then renamed: a worker killed mid-write must not leave an empty marker behind.
    temp = folder / f".{os.getpid()}.tmp"
    temp.write_text(str(path))
    os.replace(temp, folder / str(os.getpid()))


def file_being_decoded(worker_pid: int) -> str | None:
    """The file a worker of this process last started decoding, if it said."""
    marker = _marker_folder(os.getpid()) / str(worker_pid)
    return marker.read_text() if marker.is_file() else None


def remove_markers() -> None:
    """This process's markers, at the end of a run or once a worker's death is reported."""
    shutil.rmtree(_marker_folder(os.getpid()), ignore_errors=True)


def remove_markers_of_dead_processes() -> None:
    """A run killed outright (SIGKILL, out of memory) cannot clean up its marker folder; the next one does."""
    for folder in Path(tempfile.gettempdir()).glob("dlkdd-decoding-*"):
        try:
            os.kill(int(folder.name.rsplit("-", 1)[1]), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except (ValueError, PermissionError):  # not ours to judge: another user's, or not a pid
            continue
