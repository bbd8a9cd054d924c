"""What a person reads at the console: a fit ends with one short summary (and W&B's own end-of-run tables
stay off), and Lightning's device report is shown once per process however many trainers a command builds."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import lightning as L
import torch

from dlkdd.cli import main
from dlkdd.console import _LightningNotices, quiet_third_party_notices

from .conftest import CONFIGS, tiny_data_args

TEACHER = str(CONFIGS / "synthetic/teacher.yaml")


def test_a_fit_ends_with_the_best_epoch_its_figures_the_checkpoint_and_the_wandb_run(
        tiny_root, tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "offline")  # the default logger, writing its run folder, no network
    monkeypatch.delenv("WANDB_QUIET", raising=False)
    main(["fit", "--config", TEACHER, *tiny_data_args(tiny_root), "--trainer.accelerator=cpu",
          "--trainer.max_epochs=3", "--trainer.limit_train_batches=2", "--trainer.enable_progress_bar=false"])
    captured = capfd.readouterr()
    printed = captured.out
    assert "Run summary:" not in captured.out + captured.err  # W&B's own 30-300 lines: off by default

    summary = printed[printed.index("Best epoch"):]
    best = re.match(r"Best epoch (\d+) of 0-2 \(lowest val/loss\): val/top1 [\d.]+ %, val/top5 [\d.]+ %, "
                    r"val/loss ([\d.]+)", summary)
    assert best, summary
    checkpoint = Path(re.search(r"^  checkpoint  (\S+)$", summary, re.MULTILINE).group(1))
    saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
    assert int(best.group(1)) == saved["epoch"]  # the epoch the summary names is the one kept
    callback = next(v for k, v in saved["callbacks"].items() if k.startswith("ModelCheckpoint"))
    assert abs(float(best.group(2)) - float(callback["best_model_score"])) < 1e-3
    run = re.search(r"^  W&B run     (\S+) \(offline; upload: wandb sync \1\)$", summary, re.MULTILINE)
    assert run and Path(run.group(1)).is_dir() and Path(run.group(1)).name.startswith("offline-run-")
    assert len(summary.strip().splitlines()) == 3


def test_the_device_report_is_shown_once_per_process():
    logger = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    installed = [f for f in logger.filters if isinstance(f, _LightningNotices)]
    for f in installed:  # an earlier test's filter has seen the report already: start afresh
        logger.removeFilter(f)
    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())
    logger.addHandler(handler)
    try:
        L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False)  # before: every time
        quiet_third_party_notices()
        quiet_third_party_notices()  # twice: still one filter
        for _ in range(3):
            L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False)
    finally:
        logger.removeHandler(handler)
        for f in [f for f in logger.filters if isinstance(f, _LightningNotices)]:
            logger.removeFilter(f)
        for f in installed:
            logger.addFilter(f)
    gpu = [m for m in seen if m.startswith("GPU available:")]
    assert len(gpu) == 2  # the unfiltered trainer's, then one for the three filtered ones
    assert sum(m.startswith("TPU available:") for m in seen) == 2
