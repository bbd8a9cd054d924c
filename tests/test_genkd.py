"""GenKD: feature taps, attention head and CVAE, phase 1 and phase 2 through the real CLI, and a student
checkpoint that costs exactly what the plain student costs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from dlkdd.backbones import create_backbone
from dlkdd.backbones.features import forward_with_features, stage_channels, stage_name
from dlkdd.cli import main
from dlkdd.models import TeacherModule
from dlkdd.models.distill import TRAINING_ONLY_KEY, DistillModule
from dlkdd.models.genkd import (
    AttentionHead,
    ConditionalVAE,
    FeatureModel,
    FeatureModelOptions,
    GenKDOptions,
    StudentFeatureModel,
    distillation_losses,
)

from .conftest import CONFIGS, save_as_fit_would, tiny_data_args

FAST = ["--trainer.max_epochs=1", "--trainer.accelerator=cpu", "--trainer.logger=false",
        "--trainer.enable_progress_bar=false"]


def test_named_stage_tap_and_its_width() -> None:
    backbone = create_backbone("tiny3d", 5)
    stage = stage_name(backbone, "net.features.2", "--opt")
    output, feature_map = forward_with_features(backbone, torch.rand(2, 3, 8, 32, 32), stage)
    assert output.logits.shape == (2, 5)
    assert feature_map.shape == (2, 64, 4, 4, 4) and stage_channels(backbone, stage) == 64
    assert stage_name(backbone, None, "--opt") == backbone.spec.last_stage
    with pytest.raises(KeyError, match="--model.init_args.genkd.student_stage.*net.features"):
        stage_name(backbone, "net.featurs", "--model.init_args.genkd.student_stage")


def test_attention_gate_and_cvae_kl() -> None:
    feature_map = torch.randn(2, 6, 3, 4, 4)
    gate = AttentionHead(6, 8)(feature_map)
    assert gate.shape == (2, 6, 3) and gate.min() >= 0 and gate.max() <= 1

    cvae = ConditionalVAE(6, 8)
    mean, log_var = cvae.encoder(torch.cat([feature_map, gate[..., None, None].expand_as(feature_map)], 1)
                                 ).chunk(2, dim=1)
    prior = torch.distributions.Normal(gate[..., None, None].expand_as(mean), 1.0)
    posterior = torch.distributions.Normal(mean, (0.5 * log_var).exp())
    expected = torch.distributions.kl_divergence(posterior, prior)
    reconstruction, kl = cvae(feature_map, gate, sample=False)
    assert reconstruction.shape == feature_map.shape
    torch.testing.assert_close(kl, expected.mean())


def test_student_side_adapts_width_and_size_and_reaches_the_student() -> None:
    teacher = FeatureModel(channels=12, num_classes=4, hidden=8).requires_grad_(False)
    student = StudentFeatureModel(student_channels=6, teacher=teacher)
    student_map = torch.randn(2, 6, 4, 8, 8, requires_grad=True)
    teacher_map = torch.randn(2, 12, 2, 4, 4)
    adapted = student.adapt(student_map, teacher_map)
    assert adapted.shape == teacher_map.shape
    terms = distillation_losses(adapted, student.attention(adapted), teacher_map, student, teacher)
    assert set(terms) == {"loss_att", "loss_gen", "loss_rec"}
    sum(terms.values()).backward()
    assert student_map.grad.abs().sum() > 0 and all(p.grad is None for p in teacher.parameters())


def test_reconstruction_ramp() -> None:
    options = GenKDOptions(reconstruction_weight=0.5, reconstruction_ramp_epochs=20)
    assert [options.reconstruction_weight_at(e) for e in (0, 10, 20, 40)] == [0.0, 0.25, 0.5, 0.5]


def test_phase1_refuses_an_untrained_teacher() -> None:
    phase1 = TeacherModule(num_classes=3, feature_model=FeatureModelOptions())
    assert not any(p.requires_grad for p in phase1.backbone.parameters())
    with pytest.raises(ValueError, match="--model.init_args.pretrained"):
        phase1.setup("fit")


def test_genkd_refuses_a_teacher_without_phase1(tmp_path: Path) -> None:
    student = DistillModule(num_classes=10, teacher_checkpoint=_teacher_checkpoint(tmp_path / "t.ckpt"),
                            genkd=GenKDOptions())
    with pytest.raises(ValueError, match="teacher_genkd.yaml"):
        student.setup("fit")


def _flops(model: torch.nn.Module, video: torch.Tensor) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(video)
    return counter.get_total_flops()


def _teacher_checkpoint(path: Path) -> str:
    """A teacher checkpoint as `dlkdd fit` writes it (its training is what test_pipeline covers)."""
    return str(save_as_fit_would(TeacherModule(num_classes=10, backbone="tiny_r2plus1d"), path))


@pytest.mark.slow
def test_phase1_phase2_resume_and_zero_inference_cost(tiny_root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = tiny_data_args(tiny_root)
    synthetic = CONFIGS / "synthetic"
    teacher_ckpt = _teacher_checkpoint(tmp_path / "teacher.ckpt")

    # Phase 1: only the feature model learns; the teacher's weights come back unchanged.
    phase1 = main(["fit", "--config", str(synthetic / "teacher_genkd.yaml"), *data, *FAST,
                   f"--model.init_args.pretrained={teacher_ckpt}"])
    assert {"train/loss_gate", "train/loss_cvae", "val/loss_cvae"} <= set(phase1.trainer.callback_metrics)
    trained = torch.load(teacher_ckpt, weights_only=True)["state_dict"]
    phase1_state = phase1.model.state_dict()
    assert all(phase1_state[k].equal(v) for k, v in trained.items())
    phase1_ckpt = phase1.trainer.checkpoint_callback.best_model_path

    # Phase 2: every term logged by name, the teacher frozen, validation against the teacher.
    genkd_config = str(synthetic / "distill_genkd.yaml")
    student = main(["fit", "--config", genkd_config, *data, *FAST,
                    f"--model.init_args.teacher_checkpoint={phase1_ckpt}"])
    metrics = student.trainer.callback_metrics
    names = ["loss", "loss_ce", "loss_kd", "loss_gen", "loss_att", "loss_rec", "loss_cvae"]
    assert {f"train/{n}" for n in names} | {"val/agreement", "val/kl_teacher"} <= set(metrics)
    assert 0.0 <= float(metrics["val/agreement"]) <= 1.0 and float(metrics["val/kl_teacher"]) >= 0.0
    assert not any(p.requires_grad for p in student.model.teacher_features.parameters())

    student_ckpt = student.trainer.checkpoint_callback.last_model_path
    checkpoint = torch.load(student_ckpt, map_location="cpu", weights_only=True)
    plain = create_backbone("tiny3d", 10)
    assert set(checkpoint["state_dict"]) == {f"backbone.{k}" for k in plain.state_dict()}
    training_only = checkpoint[TRAINING_ONLY_KEY]
    assert training_only and all(k.startswith("genkd.") for k in training_only)

    # A resumed fit gets its CVAE, attention head and adapter back (strict loading would fail otherwise).
    resumed = main(["fit", "--config", genkd_config, *data, *FAST, "--trainer.max_epochs=2",
                    f"--model.init_args.teacher_checkpoint={phase1_ckpt}", "--ckpt_path", student_ckpt])
    assert resumed.trainer.current_epoch == 2

    # Validate and predict without any teacher file: the plain student, at the plain student's cost.
    Path(phase1_ckpt).unlink()
    Path(teacher_ckpt).unlink()
    validated = main(["validate", "--config", genkd_config, *data, *FAST[1:], "--ckpt_path", student_ckpt])
    assert "val/top1" in validated.trainer.callback_metrics
    assert "val/agreement" not in validated.trainer.callback_metrics
    predicted = main(["predict", "--config", genkd_config, *data, *FAST[1:], "--ckpt_path", student_ckpt])
    model = predicted.model
    assert isinstance(model, DistillModule) and model.genkd is None and model.teacher is None
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in plain.parameters())
    video = torch.rand(2, 3, 4, 28, 28)
    assert _flops(model.eval(), video) == _flops(plain.eval(), video) > 0
