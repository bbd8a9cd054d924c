"""DDP on CPU (2 processes, gloo, launched as a user would: `dlkdd fit ... --trainer.strategy=ddp`):
fit + test + predict give what 1 process gives on the same data and seeds, and evaluation counts
every video once (no padded duplicates), also in the file `dlkdd predict --output` writes."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch

from dlkdd.cli import main
from dlkdd.synthetic.dataset import split_list_path
from tests.conftest import CONFIGS, REPO, tiny_data_args

TWO_PROCESSES = ["--trainer.strategy=ddp", "--trainer.devices=2"]


class RecordOutputs(L.Callback):
    """Writes what the test compares: each process's predictions (not rank 0's only), the final weights
    and the metrics after fit/test (rank 0)."""

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)

    def on_predict_epoch_end(self, trainer, pl_module) -> None:
        rows = [p for p in trainer.predict_loop.predictions if p is not None]
        saved = {key: torch.cat([p[key] for p in rows]) for key in ("index", "probs")}
        torch.save(saved, self.folder / f"predictions{trainer.global_rank}.pt")

    def _metrics(self, trainer, pl_module, stage: str) -> None:
        if trainer.is_global_zero:
            torch.save(trainer.callback_metrics, self.folder / f"{stage}_metrics.pt")
            torch.save(pl_module.state_dict(), self.folder / f"{stage}_weights.pt")

    def on_fit_end(self, trainer, pl_module) -> None:
        self._metrics(trainer, pl_module, "fit")
        trainer.save_checkpoint(self.folder / "fit.ckpt")

    def on_test_end(self, trainer, pl_module) -> None:
        self._metrics(trainer, pl_module, "test")


def _run(args: list[str], folder: Path, processes: int) -> Path:
    folder.mkdir(exist_ok=True)
    recorder = {"class_path": "tests.cli.test_ddp.RecordOutputs", "init_args": {"folder": str(folder)}}
    args = [*args, f"--trainer.callbacks={json.dumps([recorder])}"]
    if processes == 1:
        main(args)
    else:  # Lightning's DDP launcher starts rank 1 by re-running this command line
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        done = subprocess.run([sys.executable, "-m", "dlkdd", *args, *TWO_PROCESSES], env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-4000:]
    return folder


def _predictions(folder: Path) -> dict[int, torch.Tensor]:
    by_video: dict[int, torch.Tensor] = {}
    for file in sorted(folder.glob("predictions*.pt")):
        saved = torch.load(file, weights_only=True)
        for index, probs in zip(saved["index"].tolist(), saved["probs"], strict=True):
            assert index not in by_video, f"video {index} predicted twice (a padded duplicate)"
            by_video[index] = probs
    return by_video


def _load(path: Path):
    return torch.load(path, weights_only=True)


@pytest.mark.slow
def test_two_processes_match_one(tiny_root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "data"
    shutil.copytree(tiny_root, root)
    test_list = split_list_path(root, "test")  # 9 test videos: 2 processes cannot split them evenly
    test_list.write_text("\n".join(test_list.read_text().splitlines()[:9]) + "\n")
    # Square frames cropped whole, no flips: the on-device augmentation is the identity, because Kornia
    # draws its crop parameters per process batch (4 clips here, 8 in one process) and they would differ.
    # Compared: the data order, each clip's temporal start, gradient averaging, SyncBatchNorm, metric sync.
    common = [
        "--config", str(CONFIGS / "synthetic/teacher.yaml"), *tiny_data_args(root),
        "--data.frame_size=[32, 32]", "--data.crop_size=32", "--data.min_scale=1.0", "--data.hflip=false",
        "--data.eval_batch_size=2", "--trainer.accelerator=cpu", "--trainer.logger=false",
        "--trainer.enable_progress_bar=false", "--trainer.enable_checkpointing=false",
        "--trainer.num_sanity_val_steps=0", "--trainer.deterministic=true",
    ]
    # Fit: the same global batch of 8 as 8 clips in 1 process or 4 + 4 in 2. The weights are not expected
    # to be equal: BatchNorm normalizes over each process's 4 clips (SyncBatchNorm, which would make it 8,
    # is GPU-only in torch). What must hold: the run trains as many steps on the same data and is synced.
    fit = ["fit", *common, "--trainer.max_epochs=2"]
    one = _run([*fit, "--data.batch_size=8"], tmp_path / "fit1", 1)
    two = _run([*fit, "--data.batch_size=4"], tmp_path / "fit2", 2)
    expected, got = _load(one / "fit_weights.pt"), _load(two / "fit_weights.pt")
    assert expected.keys() == got.keys()
    difference = max(float((got[k].float() - expected[k].float()).abs().max()) for k in expected)
    print(f"largest weight difference, 2 processes vs 1 after 4 steps: {difference:.3g}")
    assert {"val/top1", "val/loss", "train/top1"} <= set(_load(two / "fit_metrics.pt"))

    # Evaluation of one checkpoint: the same numbers, every video counted once.
    evaluate = [*common, "--ckpt_path", str(one / "fit.ckpt")]
    tested = [_load(_run(["test", *evaluate], tmp_path / f"test{n}", n) / "test_metrics.pt") for n in (1, 2)]
    for name in ("test/top1", "test/top5", "test/loss"):
        torch.testing.assert_close(tested[1][name], tested[0][name], rtol=0, atol=1e-6)
    predicted = [_predictions(_run(["predict", *evaluate, "--output", f"predictions{n}.csv"],
                                   tmp_path / f"predict{n}", n)) for n in (1, 2)]
    assert sorted(predicted[1]) == sorted(predicted[0]) == list(range(9))
    for index, probs in predicted[0].items():
        torch.testing.assert_close(predicted[1][index], probs, rtol=0, atol=1e-6)
    # The CLI's file: both processes' videos gathered, written once by rank 0, each video once.
    tables = [list(csv.DictReader(Path(f"predictions{n}.csv").read_text().splitlines())) for n in (1, 2)]
    listed = [str(root / line.split("\t")[2]) for line in test_list.read_text().splitlines()]
    assert [r["path"] for r in tables[1]] == [r["path"] for r in tables[0]] == listed
    assert [r["top1"] for r in tables[1]] == [r["top1"] for r in tables[0]]
