"""PreciseBatchNorm: BatchNorm statistics re-estimated before each validation of a fit, nothing else."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from dlkdd.callbacks import PreciseBatchNorm
from dlkdd.cli import main
from tests.conftest import CONFIGS, REPO, one_step_checkpoint, tiny_data_args

BASELINE = str(CONFIGS / "synthetic/baseline.yaml")
PRECISE = json.dumps({"class_path": "dlkdd.callbacks.PreciseBatchNorm", "init_args": {"num_batches": 3}})


def quiet(root: Path) -> list[str]:
    return ["--config", BASELINE, *tiny_data_args(root), "--trainer.accelerator=cpu",
            "--trainer.enable_progress_bar=false", "--trainer.logger=false"]


def fit(root: Path, folder: Path, *extra: str):
    return main(["fit", *quiet(root), "--trainer.max_epochs=2", f"--trainer.callbacks.dirpath={folder}",
                 *extra])


def norms(module: torch.nn.Module) -> list[_BatchNorm]:
    return [m for m in module.modules() if isinstance(m, _BatchNorm)]


def test_statistics_are_re_estimated_and_training_is_untouched(tiny_root, tmp_path):
    plain = fit(tiny_root, tmp_path / "plain")
    precise = fit(tiny_root, tmp_path / "precise", f"--trainer.callbacks+={PRECISE}")
    # The same training run: every weight is bit-identical (the pass draws on forked random generators).
    for (name, a), b in zip(plain.model.named_parameters(), precise.model.parameters(), strict=True):
        assert torch.equal(a, b), name
    for a, b in zip(norms(plain.model), norms(precise.model), strict=True):
        # A plain average over the last pass: 3 batches since the reset, not an EMA over all training.
        assert int(b.num_batches_tracked) == 3 and int(a.num_batches_tracked) > 3
        assert not torch.allclose(a.running_mean, b.running_mean)
        assert b.momentum == a.momentum == 0.1  # restored for training
    # The checkpoint keeps what its validation saw: the re-estimated statistics.
    path = precise.trainer.checkpoint_callback.best_model_path
    saved = torch.load(path, map_location="cpu", weights_only=False)["state_dict"]
    assert all(int(v) == 3 for k, v in saved.items() if k.endswith("num_batches_tracked"))
    last = [k for k in saved if k.endswith("running_mean")][-1]

    # Outside a fit (validate, test) the checkpoint's statistics are used as they are.
    validated = main(["validate", *quiet(tiny_root), f"--trainer.callbacks+={PRECISE}", "--ckpt_path", path])
    assert torch.equal(norms(validated.model)[-1].running_mean, saved[last])


def test_num_batches_must_be_positive():
    with pytest.raises(ValueError, match="num_batches"):
        PreciseBatchNorm(num_batches=0)


def test_the_benchmark_validates_with_the_checkpoints_statistics_then_re_estimated(tiny_root, tmp_path):
    from benchmarks import precise_bn

    checkpoint = one_step_checkpoint("synthetic/baseline.yaml", tiny_root, tmp_path / "run")
    out = tmp_path / "precise_bn.json"
    results = precise_bn.main(["--ckpt_path", str(checkpoint), "--num_batches", "2", "--out", str(out),
                               *quiet(tiny_root)])
    assert json.loads(out.read_text())["re_estimated"] == results["re_estimated"]
    # One training step leaves the statistics one EMA step from their start: re-estimated, the same
    # weights give another validation loss.
    own, again = results["own_statistics"]["val/loss"], results["re_estimated"]["val/loss"]
    assert own != pytest.approx(again, abs=1e-4)


class RecordStatistics(L.Callback):
    """Each process's BatchNorm running means after the last validation of its fit."""

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)

    def on_fit_end(self, trainer, pl_module) -> None:
        means = [m.running_mean for m in norms(pl_module)]
        torch.save(means, self.folder / f"means{trainer.global_rank}.pt")


@pytest.mark.slow
def test_under_ddp_every_process_keeps_the_same_estimate(tiny_root, tmp_path):
    # Every process validates, and rank 0 saves, the same network: each estimates on the whole training
    # split (not its DDP shard) with the same seeds, and the estimates are averaged over processes besides.
    callbacks = [json.loads(PRECISE), {"class_path": "tests.callbacks.test_precise_bn.RecordStatistics",
                                       "init_args": {"folder": str(tmp_path)}}]
    args = ["fit", *quiet(tiny_root), "--trainer.max_epochs=1", "--trainer.enable_checkpointing=false",
            f"--trainer.callbacks={json.dumps(callbacks)}", "--trainer.strategy=ddp", "--trainer.devices=2"]
    done = subprocess.run([sys.executable, "-m", "dlkdd", *args], env={**os.environ, "PYTHONPATH": str(REPO)},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    first, second = (torch.load(tmp_path / f"means{rank}.pt", weights_only=True) for rank in (0, 1))
    for a, b in zip(first, second, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
