"""Checkpoints that are safe to share and survive a crash: read with weights_only (a file that would run
code is refused, with its name and the reason), written atomically (a temp file in the same folder,
flushed to disk, then renamed over the old one, so a crash leaves the previous checkpoint whole).

Use it from the YAML:

    trainer:
      plugins:
        - class_path: dlkdd.checkpointing.SafeCheckpointIO
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins import TorchCheckpointIO


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint holds pickled objects other than tensors and plain containers."""


def read_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict:
    """torch.load with weights_only=True, and an error that says which file and what to do."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise UnsafeCheckpointError(
            f"Refusing to load {path}: it holds pickled Python objects, which could run code when loaded "
            "(only tensors and plain containers are read, torch.load(weights_only=True)). Load it only if "
            "you trust who wrote it, and save its state_dict alone. Details from torch: "
            f"{str(err).splitlines()[0]}"
        ) from None


def save_atomically(checkpoint: dict, path: str | os.PathLike) -> None:
    """torch.save to a temp file beside `path`, fsync, then os.replace: readers and crashes see the old
    file or the new one, never a part of it. (Lightning's own write goes through a temp file in the
    system temp folder, which is a copy, not a rename, when that is another filesystem.)"""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as f:
            torch.save(checkpoint, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable
        folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


class SafeCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint reader/writer with weights_only loading and atomic local writes."""

    def save_checkpoint(self, checkpoint: dict, path, storage_options: Any | None = None) -> None:
        if storage_options is not None or "://" in str(path):
            super().save_checkpoint(checkpoint, path, storage_options)  # remote stores: fsspec's transaction
            return
        save_atomically(checkpoint, path)

    def load_checkpoint(self, path, map_location: Any = None, weights_only: bool | None = None) -> dict:
        if weights_only is False:
            raise ValueError(
                f"weights_only=False asked for {path}: dlkdd.checkpointing.SafeCheckpointIO reads weights "
                "only. "
                "Drop --weights_only false (dlkdd checkpoints need no code to load)."
            )
        if "://" in str(path):
            return super().load_checkpoint(path, map_location, weights_only=True)
        if not Path(path).is_file():
            raise FileNotFoundError(f"Checkpoint {path} not found (--ckpt_path).")
        return read_checkpoint(path, map_location or "cpu")
