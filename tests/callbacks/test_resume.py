"""Exact resume: a run killed mid-epoch (SIGKILL, no clean-up) and resumed from its last checkpoint ends
with the same weights and metrics as the run that was never interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import lightning as L
import pytest
import torch

from dlkdd.cli import main
from tests.conftest import CONFIGS, REPO, tiny_data_args

KILL_AT_STEP = 8  # of 10: epoch 2 of 2, batch 4 of 5 (the last checkpoint is from step 8, mid-epoch)


class KillAtStep(L.Callback):
    """Kills its own process with SIGKILL when the training loop is about to run step `step` + 1."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


def _args(root, checkpoints, workers: int, extra_callbacks=()) -> list[str]:
    callbacks = [{"class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                  "init_args": {"dirpath": str(checkpoints), "save_last": True, "every_n_train_steps": 2,
                                "save_top_k": 0}}, *extra_callbacks]
    return [
        "fit", "--config", str(CONFIGS / "synthetic/teacher.yaml"), *tiny_data_args(root),
        f"--data.num_workers={workers}", "--data.hflip=true", "--model.init_args.dropout=0.3",
        "--trainer.max_epochs=2", "--trainer.accelerator=cpu", "--trainer.deterministic=true",
        "--trainer.logger=false", "--trainer.enable_progress_bar=false",
        "--trainer.plugins=dlkdd.checkpointing.SafeCheckpointIO",
        f"--trainer.callbacks={json.dumps(callbacks)}",
    ]


@pytest.mark.slow
def test_killed_mid_epoch_resumes_to_the_same_weights(tiny_root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    whole = main(_args(tiny_root, tmp_path / "whole", workers=0))
    assert whole.trainer.global_step == 10

    kill = {"class_path": "tests.callbacks.test_resume.KillAtStep", "init_args": {"step": KILL_AT_STEP}}
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    killed = subprocess.run([sys.executable, "-m", "dlkdd", *_args(tiny_root, tmp_path / "cut", 1, [kill])],
                            env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    last = tmp_path / "cut" / "last.ckpt"
    saved = torch.load(last, weights_only=True)
    assert saved["global_step"] == KILL_AT_STEP and saved["epoch"] == 1  # mid-epoch, not at its end

    resumed = main([*_args(tiny_root, tmp_path / "cut", workers=1), "--ckpt_path", str(last)])
    assert resumed.trainer.global_step == 10

    expected, got = whole.model.state_dict(), resumed.model.state_dict()
    assert expected.keys() == got.keys()
    different = [k for k in expected if not torch.equal(expected[k], got[k])]
    assert not different, f"weights differ after resume: {different[:5]}"
    for name in ("val/top1", "val/loss", "train/top1"):
        assert torch.equal(whole.trainer.callback_metrics[name], resumed.trainer.callback_metrics[name]), name
