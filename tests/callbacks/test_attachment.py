"""The callbacks' house rule (dlkdd/callbacks/__init__.py): every Lightning callback lives in dlkdd.callbacks;
the required ones come from the model's configure_callbacks, once per trainer, and a configured one of the
same type is kept instead."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
from collections import Counter

import lightning as L
import pytest

import dlkdd
from dlkdd.callbacks import BrokenVideoMonitor, ExactResume, NonFiniteLoss, WorkerDeathReport
from dlkdd.cli import main
from tests.conftest import CONFIGS, tiny_data_args

QUIET = ["--trainer.accelerator=cpu", "--trainer.logger=false", "--trainer.enable_progress_bar=false",
         "--trainer.max_epochs=1", "--trainer.limit_train_batches=2", "--trainer.limit_val_batches=1",
         "--trainer.num_sanity_val_steps=0"]


def test_every_lightning_callback_lives_in_dlkdd_callbacks():
    homes = {}
    for module in pkgutil.walk_packages(dlkdd.__path__, "dlkdd."):
        if module.name.endswith("__main__"):  # runs the command when imported
            continue
        for name, obj in vars(importlib.import_module(module.name)).items():
            if inspect.isclass(obj) and issubclass(obj, L.Callback) and obj.__module__ == module.name:
                homes[name] = module.name
    assert {"ExactResume", "NonFiniteLoss", "WorkerDeathReport", "BrokenVideoMonitor"} <= set(homes)
    elsewhere = {name: home for name, home in homes.items() if not home.startswith("dlkdd.callbacks.")}
    assert not elsewhere, f"callbacks outside dlkdd/callbacks/: {elsewhere}"


@pytest.mark.slow
def test_required_callbacks_come_once_and_a_configured_one_is_kept(tiny_root):
    skip = [{"class_path": "dlkdd.callbacks.NonFiniteLoss", "init_args": {"action": "skip"}}]
    cli = main(["fit", "--config", str(CONFIGS / "synthetic/teacher.yaml"), *tiny_data_args(tiny_root),
                *QUIET, f"--trainer.callbacks={json.dumps(skip)}"])
    # Lightning calls configure_callbacks again at the start of test: nothing is added twice.
    cli.trainer.test(cli.model, datamodule=cli.datamodule, verbose=False)
    kinds = Counter(type(c) for c in cli.trainer.callbacks)
    assert all(kinds[t] == 1 for t in (ExactResume, NonFiniteLoss, WorkerDeathReport, BrokenVideoMonitor))
    guard = next(c for c in cli.trainer.callbacks if isinstance(c, NonFiniteLoss))
    assert guard.action == "skip"  # the configured one, not the model's default (action: stop)
    assert cli.trainer.callback_metrics["data/broken_videos_test"] == 0


@pytest.mark.slow
def test_the_enhancer_gets_the_broken_video_counts_only(tiny_root):
    cli = main(["fit", "--config", str(CONFIGS / "synthetic/enhancer.yaml"),
                *tiny_data_args(tiny_root, from_scratch=False), *QUIET])
    kinds = {type(c) for c in cli.trainer.callbacks}
    assert BrokenVideoMonitor in kinds and not kinds & {ExactResume, NonFiniteLoss, WorkerDeathReport}
    assert cli.trainer.callback_metrics["data/broken_videos_train"] == 0
