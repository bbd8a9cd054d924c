"""GenKD: feature taps, attention head and CVAE; the released variant's terms by hand, its epoch
alternation and its gated student; phase 1 and phase 2 through the real CLI, and checkpoints that test and
predict with no teacher file (the released variant's with its gate; the mimic variant's and older ones as
the plain student)."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from dlkdd.backbones import create_backbone
from dlkdd.backbones.features import forward_with_features, stage_channels, stage_name
from dlkdd.cli import main
from dlkdd.inference import load_clip_model
from dlkdd.models import TeacherModule
from dlkdd.models.distill import TRAINING_ONLY_KEY, DistillModule
from dlkdd.models.genkd import (
    AttentionHead,
    ConditionalVAE,
    FeatureModel,
    FeatureModelOptions,
    GenKDOptions,
    ReleasedStudentSide,
    StudentFeatureModel,
    distillation_losses,
    gated_map,
    released_cvae_terms,
    released_student_terms,
)
from tests.conftest import CONFIGS, save_as_fit_would, tiny_data_args

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


def test_mimic_student_side_adapts_width_and_size_and_reaches_the_student() -> None:
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
    for variant in ("released", "mimic"):
        student = DistillModule(num_classes=10, teacher_checkpoint=_teacher_checkpoint(tmp_path / "t.ckpt"),
                                genkd=GenKDOptions(variant=variant))
        with pytest.raises(ValueError, match="teacher_genkd.yaml"):
            student.setup("fit")


def _flops(model: torch.nn.Module, video: torch.Tensor) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(video)
    return counter.get_total_flops()


def _teacher_checkpoint(path: Path) -> str:
    """A teacher checkpoint as `dlkdd fit` writes it (its training is what test_pipeline covers)."""
    return str(save_as_fit_would(TeacherModule(num_classes=10, backbone="tiny_r2plus1d"), path))


def test_gated_map_renormalises_each_clip_to_its_own_sum() -> None:
    feature_map = torch.rand(2, 3, 2, 2, 2)
    gate = torch.rand(2, 3, 2)
    gated = gated_map(feature_map, gate)
    for b in range(2):  # the released formula, feature_fg / feature_fg.sum() * feature.sum(), per clip
        by_hand = feature_map[b] * gate[b][..., None, None]
        torch.testing.assert_close(gated[b], by_hand / by_hand.sum() * feature_map[b].sum())
    # A constant gate changes nothing once renormalised.
    torch.testing.assert_close(gated_map(feature_map, torch.full((2, 3, 2), 0.3)), feature_map)


def test_released_cvae_terms_by_hand() -> None:
    student_cvae, teacher_cvae = ConditionalVAE(4, 6), ConditionalVAE(4, 6).requires_grad_(False)
    feature_map, gate = torch.rand(2, 4, 3, 2, 2), torch.rand(2, 4, 3)
    torch.manual_seed(0)
    terms = released_cvae_terms(student_cvae, teacher_cvae, feature_map, gate, kl_weight=0.1)

    torch.manual_seed(0)  # the same two latent draws, student's first, as in train_Top_I3D_KD.py
    condition = gate[..., None, None].expand_as(feature_map)

    def reconstruct(cvae: ConditionalVAE) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mean, log_var = cvae.encoder(torch.cat([feature_map, condition], 1)).chunk(2, dim=1)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * log_var)
        return cvae.decoder(torch.cat([z, condition], 1)), mean, log_var

    recon, mean, log_var = reconstruct(student_cvae)
    teacher_recon, _, _ = reconstruct(teacher_cvae)
    # multisegment_loss.loss_cvae: 0.1 * KLD(N(mean, var) || N(gate, I)) + MSE
    kld = -0.5 * (1 + log_var - (mean - condition).pow(2) - log_var.exp()).mean()
    torch.testing.assert_close(terms["loss_cvae"], 0.1 * kld + (feature_map - recon).pow(2).mean())
    torch.testing.assert_close(terms["loss_gen"], (recon - teacher_recon).pow(2).mean())


def test_released_student_terms_by_hand() -> None:
    cvae = ConditionalVAE(4, 6).requires_grad_(False)
    feature_map, gate, teacher_gate = torch.rand(2, 4, 4, 3, 3), torch.rand(2, 4, 4), torch.rand(2, 4, 2)
    torch.manual_seed(1)
    terms = released_student_terms(cvae, feature_map, gate, teacher_gate)
    torch.manual_seed(1)
    condition = gate[..., None, None].expand(2, 4, 4, 3, 3)
    z = torch.randn(condition.shape) + condition  # the released CVAE's 'inference': z ~ N(gate, I)
    generated = cvae.decoder(torch.cat([z, condition], 1))
    torch.testing.assert_close(terms["loss_rec"], (generated - feature_map).pow(2).mean())
    in_time = F.interpolate(gate, size=2, mode="linear", align_corners=False)  # to the teacher's 2 steps
    torch.testing.assert_close(terms["loss_att"], (in_time - teacher_gate).pow(2).mean())
    options = GenKDOptions()  # released epochs count from 1: 0.5 * min(epoch, 20) / 20
    assert [options.reconstruction_weight_at(e) for e in (1, 10, 20, 21)] == [0.025, 0.25, 0.5, 0.5]


def test_the_gate_is_part_of_the_released_student_and_changes_its_logits() -> None:
    student = DistillModule(num_classes=5, teacher_checkpoint="unused", genkd=GenKDOptions(hidden=8)).eval()
    assert {k for k in student.state_dict() if not k.startswith("backbone.")} == {
        "gate.attention.net.0.weight", "gate.attention.net.0.bias",
        "gate.attention.net.2.weight", "gate.attention.net.2.bias"}
    video = torch.rand(2, 3, 8, 32, 32)
    with torch.no_grad():
        gated, plain = student(video), student.backbone(video).logits
        assert not torch.allclose(gated, plain)
        # Ablating the gate (a constant one: zero weights and biases) gives back the plain student's logits.
        last = student.gate.attention.net[2]
        last.weight.zero_()
        last.bias.zero_()
        torch.testing.assert_close(student(video), plain)
    mimic = DistillModule(num_classes=5, teacher_checkpoint="unused", genkd=GenKDOptions(variant="mimic"))
    assert mimic.gate is None and set(mimic.state_dict()) == {f"backbone.{k}" for k in plain_state(5)}


def plain_state(num_classes: int) -> dict:
    return create_backbone("tiny3d", num_classes).state_dict()


def _phase1_checkpoint(path: Path) -> str:
    """A phase-1 teacher checkpoint as `dlkdd fit` writes it (its training is what the slow test covers)."""
    teacher = TeacherModule(num_classes=5, backbone="tiny_r2plus1d", view="enhanced",
                            feature_model=FeatureModelOptions(hidden=8))
    return str(save_as_fit_would(teacher, path))


class _Snapshots(L.Callback):
    def __init__(self) -> None:
        self.states: list[dict[str, torch.Tensor]] = []

    def on_train_epoch_start(self, trainer, module) -> None:
        if not self.states:
            self.states.append(_parameters(module))

    def on_train_epoch_end(self, trainer, module) -> None:
        self.states.append(_parameters(module))


def _parameters(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in module.named_parameters()}


def _fit_one_released_epoch_pair(student: DistillModule, callbacks: list | None = None) -> L.Trainer:
    """A CVAE epoch then a student epoch of the released variant, two batches each, on CPU."""
    batch = {"original": torch.rand(4, 3, 4, 28, 28), "enhanced": torch.rand(4, 3, 4, 28, 28),
             "label": torch.tensor([0, 1, 2, 3]), "num_views": 1}
    trainer = L.Trainer(max_epochs=2, limit_val_batches=0, num_sanity_val_steps=0, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        accelerator="cpu", callbacks=callbacks)
    trainer.fit(student, torch.utils.data.DataLoader([batch] * 2, batch_size=None))
    return trainer


def test_released_epochs_alternate_cvae_then_student(tmp_path: Path) -> None:
    genkd = GenKDOptions(hidden=8, student_lr=0.05, cvae_lr=0.01)
    student = DistillModule(num_classes=5, teacher_checkpoint=_phase1_checkpoint(tmp_path / "p1.ckpt"),
                            genkd=genkd)
    snapshots = _Snapshots()
    trainer = _fit_one_released_epoch_pair(student, [snapshots])
    assert isinstance(student.genkd, ReleasedStudentSide)
    start, after_cvae, after_student = snapshots.states
    cvae = [n for n in start if n.startswith("genkd.cvae.")]
    rest = [n for n in start if n not in cvae]
    assert cvae and any(n.startswith("gate.") for n in rest) and any(n.startswith("backbone.") for n in rest)
    # Epoch 1 (Lightning's 0) trains the CVAE alone; epoch 2 the student (backbone, gate, adapters) alone.
    assert all(after_cvae[n].equal(start[n]) for n in rest)
    assert not all(after_cvae[n].equal(start[n]) for n in cvae)
    assert all(after_student[n].equal(after_cvae[n]) for n in cvae)
    assert not all(after_student[n].equal(after_cvae[n]) for n in rest if n.startswith("backbone."))
    assert not all(after_student[n].equal(after_cvae[n]) for n in rest if n.startswith("gate."))
    metrics = trainer.callback_metrics
    assert {"train/loss_cvae", "train/loss_gen", "train/loss_rec", "train/loss_att"} <= set(metrics)
    assert float(metrics["train/rec_weight"]) == pytest.approx(0.025)  # the student epoch: released epoch 1
    optimizers = trainer.optimizers
    assert isinstance(optimizers[0], torch.optim.SGD) and optimizers[0].defaults["momentum"] == 0.9
    assert isinstance(optimizers[1], torch.optim.Adam) and optimizers[1].defaults["betas"] == (0.8, 0.999)


def test_the_studys_control_row_is_the_released_procedure_with_its_feature_losses_off(tmp_path: Path) -> None:
    """The accuracy study's genkd_control: the released gate, optimisers and alternating epochs, the three
    GenKD weights 0 and alpha 1.0, so the student learns on its cross-entropy alone (docs/results.md,
    GenKD ablation)."""
    from benchmarks.accuracy_study import ROWS

    extra = dict(arg.removeprefix("--model.init_args.").split("=") for arg in ROWS["genkd_control"].extra)
    weights = {k.removeprefix("genkd."): float(v) for k, v in extra.items() if k.startswith("genkd.")}
    assert float(extra["alpha"]) == 1.0 and set(weights) == {
        "generative_weight", "attention_weight", "reconstruction_weight"} and not any(weights.values())
    student = DistillModule(num_classes=5, teacher_checkpoint=_phase1_checkpoint(tmp_path / "p1.ckpt"),
                            alpha=float(extra["alpha"]), genkd=GenKDOptions(hidden=8, **weights))
    metrics = _fit_one_released_epoch_pair(student).callback_metrics  # the student epoch's last step
    # Both terms are computed and weighted 0.
    assert float(metrics["train/loss_rec"]) > 0 and float(metrics["train/loss_att"]) > 0
    torch.testing.assert_close(metrics["train/loss"], metrics["train/loss_ce"])


@pytest.mark.slow
def test_phase1_phase2_resume_and_a_gated_student_without_teacher(tiny_root, tmp_path, monkeypatch):
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

    # Phase 2, released (the config's default): a CVAE epoch then a student epoch, validated after it.
    genkd_config = str(synthetic / "distill_genkd.yaml")
    student = main(["fit", "--config", genkd_config, *data, *FAST, "--trainer.max_epochs=2",
                    f"--model.init_args.teacher_checkpoint={phase1_ckpt}"])
    assert student.model.genkd_options.variant == "released"
    metrics = student.trainer.callback_metrics
    names = ["loss", "loss_ce", "loss_kd", "loss_rec", "loss_att", "loss_cvae", "loss_gen"]
    assert {f"train/{n}" for n in names} | {"val/agreement", "val/kl_teacher"} <= set(metrics)
    assert not any(p.requires_grad for p in student.model.teacher_features.parameters())

    student_ckpt = student.trainer.checkpoint_callback.last_model_path
    checkpoint = torch.load(student_ckpt, map_location="cpu", weights_only=True)
    plain = create_backbone("tiny3d", 10)
    gate_keys = {k for k in checkpoint["state_dict"] if k.startswith("gate.")}
    assert gate_keys
    assert set(checkpoint["state_dict"]) - gate_keys == {f"backbone.{k}" for k in plain.state_dict()}
    training_only = checkpoint[TRAINING_ONLY_KEY]
    assert training_only and all(k.startswith("genkd.") for k in training_only)
    # The config's PreciseBatchNorm re-estimated the statistics before the validation: a plain average over
    # the whole training split (20 videos, batches of 4), not an EMA over every step since pretraining.
    tracked = [int(v) for k, v in checkpoint["state_dict"].items() if k.endswith("num_batches_tracked")]
    assert tracked and set(tracked) == {5}

    # A resumed fit gets its CVAE and adapters back (strict loading would fail otherwise).
    resumed = main(["fit", "--config", genkd_config, *data, *FAST, "--trainer.max_epochs=3",
                    f"--model.init_args.teacher_checkpoint={phase1_ckpt}", "--ckpt_path", student_ckpt])
    assert resumed.trainer.current_epoch == 3

    # Validate, predict and the inference core without any teacher file: the gated student.
    Path(phase1_ckpt).unlink()
    Path(teacher_ckpt).unlink()
    validated = main(["validate", "--config", genkd_config, *data, *FAST[1:], "--ckpt_path", student_ckpt])
    assert "val/top1" in validated.trainer.callback_metrics
    assert "val/agreement" not in validated.trainer.callback_metrics
    predicted = main(["predict", "--config", genkd_config, *data, *FAST[1:], "--ckpt_path", student_ckpt])
    model = predicted.model
    assert isinstance(model, DistillModule) and model.genkd is None and model.teacher is None
    assert model.gate is not None
    gate_params = sum(p.numel() for p in model.gate.parameters())
    plain_params = sum(p.numel() for p in plain.parameters())
    assert sum(p.numel() for p in model.parameters()) == plain_params + gate_params
    video = torch.rand(2, 3, 4, 28, 28)
    assert _flops(model.eval(), video) > _flops(plain.eval(), video) > 0  # the gate's cost is counted
    clip_model = load_clip_model(student_ckpt)
    frames = torch.randint(0, 255, (1, clip_model.spec.clip_len, *clip_model.spec.frame_size, 3),
                           dtype=torch.uint8)
    probs = clip_model.probabilities(frames)
    expected = model(clip_model.prepare(frames)).softmax(dim=-1)
    torch.testing.assert_close(probs, expected)


@pytest.mark.slow
def test_mimic_and_older_checkpoints_test_as_the_plain_student(tiny_root, tmp_path, monkeypatch):
    """A checkpoint written before the variants (no `variant` key) is dlkdd's mimic variant: the plain
    student, tested through the released config without a teacher file, at the plain student's cost."""
    monkeypatch.chdir(tmp_path)
    mimic = DistillModule(num_classes=10, teacher_checkpoint="gone.ckpt", genkd=GenKDOptions(variant="mimic"))
    path = save_as_fit_would(mimic, tmp_path / "old.ckpt")
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["hyper_parameters"]["_class_path"] = "dlkdd.models.DistillModule"  # as LightningCLI saves it
    del checkpoint["hyper_parameters"]["genkd"]["variant"]
    for name in ("hidden", "cvae_betas", "student_lr", "student_momentum", "student_weight_decay"):
        del checkpoint["hyper_parameters"]["genkd"][name]
    torch.save(checkpoint, path)
    data = tiny_data_args(tiny_root)
    tested = main(["test", "--config", str(CONFIGS / "synthetic/distill_genkd.yaml"), *data, *FAST[1:],
                   "--ckpt_path", str(path)])
    model = tested.model
    assert model.genkd_options.variant == "mimic" and model.gate is None
    assert "test/top1" in tested.trainer.callback_metrics
    plain = create_backbone("tiny3d", 10)
    video = torch.rand(2, 3, 4, 28, 28)
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in plain.parameters())
    assert _flops(model.eval(), video) == _flops(plain.eval(), video) > 0


def test_the_gate_cost_benchmark_counts_the_gate_and_only_the_gate() -> None:
    from benchmarks.inference_cost import genkd_gate_cost

    cost = genkd_gate_cost("tiny3d", 4, 28, hidden=8, num_classes=10)
    student = DistillModule(num_classes=10, teacher_checkpoint="unused", genkd=GenKDOptions(hidden=8)).eval()
    video = torch.rand(1, 3, 4, 28, 28)
    assert cost["gate_parameters"] == sum(p.numel() for p in student.gate.parameters())
    assert cost["plain_gflops_per_clip"] * 1e9 == _flops(student.backbone, video)
    assert (cost["plain_gflops_per_clip"] + cost["gate_gflops_per_clip"]) * 1e9 == pytest.approx(
        _flops(student, video))
    assert cost["gate_gflops_per_clip"] > 0
