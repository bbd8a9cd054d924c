"""A non-finite loss from a real cause (a learning rate that blows the weights up) stops the run naming
the step and the batch's videos, or, configured so, skips those updates and the run finishes."""

from __future__ import annotations

import json

import pytest

from dlkdd.callbacks.faults import NonFiniteLossError
from dlkdd.cli import main
from tests.conftest import CONFIGS, tiny_data_args


def _fit(root, *extra):
    return main(["fit", "--config", str(CONFIGS / "synthetic/teacher.yaml"), *tiny_data_args(root),
                 "--trainer.max_epochs=1", "--trainer.accelerator=cpu", "--trainer.logger=false",
                 "--trainer.enable_progress_bar=false", "--trainer.num_sanity_val_steps=0",
                 "--model.init_args.lr=1e30", "--model.init_args.warmup_fraction=0", *extra])


@pytest.mark.slow
def test_non_finite_loss_stops_with_step_and_paths(tiny_root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(NonFiniteLossError, match=r"at global step \d+ .*the batch's videos: .*\.mp4") as err:
        _fit(tiny_root)
    assert str(tiny_root) in str(err.value)


@pytest.mark.slow
def test_non_finite_loss_skip_keeps_going(tiny_root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    skip = [{"class_path": "dlkdd.callbacks.NonFiniteLoss", "init_args": {"action": "skip"}}]
    cli = _fit(tiny_root, f"--trainer.callbacks={json.dumps(skip)}")
    guard = next(c for c in cli.trainer.callbacks if type(c).__name__ == "NonFiniteLoss")
    assert guard.action == "skip" and guard.skipped >= 1
    assert cli.trainer.global_step == 5  # every batch of the epoch was stepped or skipped, none crashed
