"""Checkpoints are read with weights_only: one that carries pickled code is refused by name and its
payload never runs; checkpoint writes are atomic: a writer killed mid-write leaves the old file whole."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import time

import pytest
import torch

from dlkdd.checkpointing import SafeCheckpointIO, UnsafeCheckpointError, read_checkpoint
from dlkdd.models import load_teacher
from tests.conftest import REPO


class WritesAFile:
    """Unpickling this runs os.system-style code: here it only creates the file `marker`."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture
def booby_trapped(tmp_path):
    marker = tmp_path / "payload_ran"
    path = tmp_path / "trap.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "hyper_parameters": {"x": WritesAFile(str(marker))},
                "dlkdd": {"module": "TeacherModule"}}, path)
    return path, marker


def test_pickled_code_is_refused_by_name(booby_trapped):
    path, marker = booby_trapped
    with pytest.raises(UnsafeCheckpointError, match=f"Refusing to load {path}.*pickled Python objects"):
        read_checkpoint(path)
    with pytest.raises(UnsafeCheckpointError, match=str(path)):
        SafeCheckpointIO().load_checkpoint(path)  # what Lightning calls for --ckpt_path
    with pytest.raises(ValueError, match="weights_only=False"):
        SafeCheckpointIO().load_checkpoint(path, weights_only=False)
    with pytest.raises(Exception, match="Weights only load failed"):
        load_teacher(path, num_classes=10)  # the distillation stage's teacher reader
    assert not marker.exists()


def test_a_failed_write_leaves_the_old_checkpoint(tmp_path):
    path = tmp_path / "last.ckpt"
    io = SafeCheckpointIO()
    io.save_checkpoint({"step": torch.tensor(1)}, path)
    with pytest.raises((AttributeError, TypeError, pickle.PicklingError)):  # a lambda: torch.save fails
        io.save_checkpoint({"step": torch.tensor(2), "bad": lambda: None}, path)
    assert int(io.load_checkpoint(path)["step"]) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no temp file left behind


WRITER = """
import sys, torch
from dlkdd.checkpointing import SafeCheckpointIO
io = SafeCheckpointIO()
for step in range(2, 10**6):
    weights = torch.full((64, 1024, 1024), float(step))
    io.save_checkpoint({"step": torch.tensor(step), "weights": weights}, sys.argv[1])
"""


@pytest.mark.slow
def test_a_writer_killed_mid_write_leaves_a_whole_checkpoint(tmp_path):
    path = tmp_path / "last.ckpt"
    SafeCheckpointIO().save_checkpoint({"step": torch.tensor(1), "weights": torch.ones(3)}, path)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)],
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob(".last.ckpt.*.tmp")):  # a write (256 MB) is under way
            assert time.monotonic() < deadline and writer.poll() is None, "the writer never started a write"
            time.sleep(0.005)
        time.sleep(0.05)
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    saved = read_checkpoint(path)  # whole: the previous checkpoint or a complete later one
    assert bool((saved["weights"] == float(saved["step"])).all()) or int(saved["step"]) == 1
