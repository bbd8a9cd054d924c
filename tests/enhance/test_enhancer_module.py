"""Zero-DCE++ and the original Zero-DCE trained through the real CLI on the tiny dark dataset, then used as
the view maker (a teacher config; the enhancer built from the checkpoint)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dlkdd.cli import main
from dlkdd.enhance import ZeroDCE, ZeroDCEV1, create_enhancer
from dlkdd.models import EnhancerModule
from dlkdd.preview import load_clips
from tests.conftest import CONFIGS, tiny_data_args

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


def test_the_original_zero_dce_trains_in_enhancer_module_and_its_checkpoint_is_the_view_maker(
    tiny_root, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    fit = main(["fit", "--config", str(CONFIGS / "synthetic/enhancer.yaml"),
                *tiny_data_args(tiny_root, from_scratch=False),
                *QUIET, "--trainer.max_epochs=1", "--trainer.limit_train_batches=2",
                "--trainer.limit_val_batches=1", "--model.init_args.network=zero_dce_v1"])
    assert isinstance(fit.model.enhancer, ZeroDCEV1)
    assert fit.model.network_weights == {"illumination": 200.0}  # the original training script's TV weight
    assert {f"train/{term}" for term in TERMS} <= set(fit.trainer.callback_metrics)
    best = fit.trainer.checkpoint_callback.best_model_path
    enhancer = create_enhancer("zero_dce_v1", checkpoint=best)  # --data.enhancer zero_dce_v1 ...
    assert enhancer.scale_factor == 4  # the training value, from the checkpoint
    trained = {f"enhancer.{k}": v for k, v in enhancer.state_dict().items()}
    saved = torch.load(best, weights_only=True)["state_dict"]
    assert all(torch.equal(saved[k], v) for k, v in trained.items()) and set(saved) == set(trained)
    with pytest.raises(ValueError, match="zero_dce_v1 applies its 24 curve maps in 8 iterations"):
        EnhancerModule(network="zero_dce_v1", iterations=4)
