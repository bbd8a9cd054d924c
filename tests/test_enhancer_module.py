"""Zero-DCE++ trained through the real CLI on the tiny dark dataset, then used by a teacher config."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dlkdd.cli import main
from dlkdd.enhance import ZeroDCE
from dlkdd.models import EnhancerModule
from dlkdd.preview import load_clips

from .conftest import CONFIGS, tiny_data_args

QUIET = ["--trainer.accelerator=cpu", "--trainer.logger=false", "--trainer.enable_progress_bar=false"]
TERMS = ("loss", "spatial", "exposure", "color", "illumination", "brightness")


@pytest.mark.slow
def test_enhancer_fit_then_a_teacher_sees_its_view(tiny_root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the configs' relative run folders land here
    data = tiny_data_args(tiny_root)
    fit = main(["fit", "--config", str(CONFIGS / "synthetic/enhancer.yaml"),
                *tiny_data_args(tiny_root, from_scratch=False), *QUIET,
                "--trainer.max_epochs=2", "--model.init_args.lr=0.003"])
    logged = set(fit.trainer.callback_metrics)
    assert {f"{stage}/{term}" for stage in ("train", "val") for term in TERMS} <= logged
    best = Path(fit.trainer.checkpoint_callback.best_model_path)
    # The path teacher_zero_dce.yaml reads, so the documented order of commands works as written.
    assert best == tmp_path / "runs/synthetic/enhancer/checkpoints/best.ckpt"

    teacher_config = str(CONFIGS / "synthetic/teacher_zero_dce.yaml")
    teacher = main(["fit", "--config", teacher_config, *data, *QUIET, "--trainer.max_epochs=1",
                    "--trainer.limit_train_batches=2", "--trainer.limit_val_batches=1"])
    assert "train/loss" in teacher.trainer.callback_metrics
    enhancer = teacher.datamodule.views.enhancer
    assert isinstance(enhancer, ZeroDCE)

    dark = load_clips(teacher.datamodule, "val", 3)
    torch.manual_seed(0)
    with torch.no_grad():
        trained, untrained = enhancer(dark), ZeroDCE()(dark)
    target = fit.model.hparams.exposure_target
    assert not torch.allclose(trained, untrained)
    assert dark.mean() < 0.1 < trained.mean()
    assert abs(trained.mean() - target) < abs(untrained.mean() - target)


def test_missing_enhancer_checkpoint_names_the_option_and_the_command(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no runs/ here: the enhancer was never trained
    hint = r"enhancer_options\.checkpoint.*dlkdd fit --config configs/<dataset>/enhancer\.yaml"
    with pytest.raises(FileNotFoundError, match=hint):
        main(["--config", str(CONFIGS / "synthetic/teacher_zero_dce.yaml"), *QUIET], run=False)


def test_enhancer_module_rejects_unknown_loss_weights():
    with pytest.raises(ValueError, match=r"loss_weights.*known: \['color'"):
        EnhancerModule(loss_weights={"colour": 5.0})
