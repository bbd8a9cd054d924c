"""Shared fixtures: a tiny generated dark-video dataset (real mp4 files), made once per test session."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

import lightning as L
import pytest

from dlkdd.synthetic.dataset import SyntheticConfig, generate_dataset

REPO = Path(__file__).resolve().parent.parent
CONFIGS = REPO / "configs"

TINY = SyntheticConfig(
    train_per_class=2, val_per_class=1, test_per_class=1, num_frames=16, height=48, width=64, workers=1
)


@pytest.fixture(autouse=True)
def _in_a_temporary_folder(tmp_path, monkeypatch):
    """Every test runs in its own temporary folder, so a config's relative run folders (runs/...), W&B's
    wandb/ and Lightning's lightning_logs/ never land in the working tree (or in another test's way)."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory) -> Path:
    return generate_dataset(tmp_path_factory.mktemp("synthetic"), TINY)


def tiny_data_args(root: Path, from_scratch: bool = True) -> list[str]:
    """CLI overrides that point a synthetic config at the tiny dataset, with clips that fit it; and, for
    a classifier config, start from random weights instead of the pretraining stage's checkpoint
    (`from_scratch=False` for a config whose model has no `pretrained`, e.g. enhancer.yaml)."""
    return [
        *(["--model.init_args.pretrained=null"] if from_scratch else []),
        f"--data.root={root}",
        f"--data.synthetic={json.dumps(asdict(TINY))}",
        "--data.clip_len=4",
        "--data.frame_size=[32, 43]",
        "--data.crop_size=28",
        "--data.batch_size=4",
        "--data.num_workers=0",
    ]


def save_as_fit_would(module: L.LightningModule, path: Path) -> Path:
    """The checkpoint a `dlkdd fit` writes for `module` (Lightning's own saving, with the module's hooks)."""
    trainer = L.Trainer(logger=False, accelerator="cpu", enable_progress_bar=False)
    trainer.strategy.connect(module)
    trainer.save_checkpoint(path, weights_only=False)
    return path


def one_step_checkpoint(config: str, root: Path, folder: Path) -> Path:
    """The best.ckpt of a real `dlkdd fit` of `config` (e.g. "synthetic/baseline.yaml") on the tiny
    dataset, one training step: a real checkpoint for inference tests, not a good one."""
    from dlkdd.cli import main

    fit = main(["fit", "--config", str(CONFIGS / config), *tiny_data_args(root), "--trainer.accelerator=cpu",
                "--trainer.enable_progress_bar=false", "--trainer.logger=false", "--trainer.max_epochs=1",
                "--trainer.limit_train_batches=1", "--trainer.limit_val_batches=1",
                f"--trainer.callbacks.dirpath={folder}"])
    return Path(fit.trainer.checkpoint_callback.best_model_path)


# Real material (never committed: licence and size). `.ci/run` and a developer's checkout find it in the
# `shared/` folder beside the repository; DLKDD_SHARED points elsewhere. Tests that need it skip, saying why.
SHARED = Path(os.environ.get("DLKDD_SHARED", REPO.parent / "shared"))


def shared_file(relative: str) -> Path:
    """`SHARED/relative`, or a skip that names the variable to set."""
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"{path} is absent: real clips and weights are not in the repository; set DLKDD_SHARED "
                    "to the folder holding real/arid6 and weights/ (see docs for their sources)")
    return path


@pytest.fixture(scope="session")
def arid6() -> Path:
    """150 real ARID v1.0 clips in <Class>/<Class>_<scene>_<index>.mp4 (CC BY 4.0)."""
    return shared_file("real/arid6")
