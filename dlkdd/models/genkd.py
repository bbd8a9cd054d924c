"""Generative feature distillation (GenKD, AAAI-24; code: github aaai-24/Generative-based-KD, recognition/).

Phase 1 (:class:`FeatureModel`, trained with a frozen teacher): an attention head gates the teacher's late
feature map per channel and time step, and a conditional VAE learns to reconstruct the map from a latent
whose prior is N(gate, I). The released code ships no phase-1 training (only the trained teacher, its gate
and CVAE as files), so this phase is dlkdd's: the gate learns through a linear classifier on the gated,
pooled map.

Phase 2 comes in two variants (``GenKDOptions.variant``):

``released`` -- as in train_Top_I3D_KD.py / BDNet_student.py / multisegment_loss.py:
    * the gate is part of the student (:class:`StudentGate`): the student's stage map times the gate,
      renormalised to the map's own sum, is what the rest of the student (pool + classifier) sees, in
      training and at test; it is in the student's state_dict and costs what benchmarks/inference_cost.py
      measures;
    * whole epochs alternate: a CVAE epoch trains only the student's (fresh) CVAE on
      ``cvae_loss + generative_weight * MSE(its reconstruction, the frozen teacher CVAE's reconstruction of
      the same student features given the same student gate)`` (Adam 1e-4, betas 0.8/0.999), the student
      frozen; a student epoch trains the student on
      ``CE(gated logits) + reconstruction_weight * min(epoch, 20)/20 * MSE(student decoder(z ~ N(gate, I)),
      student's own map) + attention_weight * MSE(student gate, teacher gate)`` (SGD 1e-3, momentum 0.9,
      wd 5e-4, constant), the CVAE frozen, epochs counted from 1;
    * adapted where dlkdd's backbones force it (:class:`ReleasedStudentSide`): the released student and
      teacher are the same I3D, so its gates and CVAEs meet without conversion; here a 1x1x1 conv takes the
      student's map to the teacher's width (for the CVAEs, which must read the teacher CVAE's width) and a
      1x1 conv on the gate's logits, with linear interpolation over time, takes the gate to the teacher's
      (channels, time) for the two terms that meet the teacher. Both are identities (absent) when the
      widths and sizes agree, e.g. an R(2+1)D-34 student of an R(2+1)D-34 teacher. The gate's network is
      dlkdd's (spatial mean, conv1d) rather than the released one (a [1,7,7] conv and a Linear(1024, 8)
      that fix the clip to 8 x 7 x 7 features), and the CVAE is pointwise rather than 7x7 (~112 M
      parameters there), so any clip and crop size works.

``mimic`` -- dlkdd's own earlier variant, kept for comparison and for checkpoints written before the
    variants existed (no ``variant`` key: mimic): the gate is a training-only side branch the classifier
    never uses; the student's attention head and CVAE start as copies of the teacher's; per batch the
    student CVAE steps on its own loss, then the student steps on the logit terms plus
    ``generative_weight * MSE(student CVAE posterior reconstruction, teacher CVAE reconstruction of the
    student's features given the TEACHER's gate) + attention_weight * MSE(gates) + ramped
    reconstruction_weight * MSE(student CVAE posterior reconstruction, the TEACHER's map)`` (FitNets-like
    mimicry), with AdamW and the module's schedule; the student checkpoint is the plain student.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class FeatureModelOptions:
    """Phase 1 (on TeacherModule).

    Attributes:
        stage: the teacher stage to model; None = the backbone's last stage (spec.last_stage).
        hidden: width of the attention head's and the CVAE's hidden layers.
        kl_weight: weight of the KL term of the CVAE loss (recon MSE + kl_weight * KL).
    """

    stage: str | None = None
    hidden: int = 256
    kl_weight: float = 0.1


GenKDVariant = Literal["released", "mimic"]


@dataclass
class GenKDOptions:
    """Phase 2 (on DistillModule). Defaults: the released code's (configs/stu_thumos14.yaml, beta 0.1).

    Attributes:
        variant: ``released`` (the authors' method, see the module docstring) or ``mimic`` (dlkdd's own).
        student_stage: the student stage to distil into; None = its backbone's last stage.
        hidden: released: width of the hidden layers of the student's fresh gate and CVAE.
        generative_weight: weight of MSE(student CVAE reconstruction, teacher CVAE reconstruction).
        attention_weight: weight of MSE(student gate, teacher gate) (the released ``beta``).
        reconstruction_weight: final weight of the reconstruction term ...
        reconstruction_ramp_epochs: ... reached linearly: weight * min(epoch, ramp) / ramp, with the
            released variant's epochs counted from 1 (one CVAE epoch + one student epoch each), the mimic
            variant's from 0.
        kl_weight: weight of the KL term in the student CVAE's own loss (0.1 in multisegment_loss.py).
        cvae_lr: learning rate of the student CVAE's optimizer (released: Adam; mimic: AdamW), constant.
        cvae_betas: released: the Adam betas of the student CVAE.
        student_lr, student_momentum, student_weight_decay: released: the student's SGD, constant (the
            module's lr / weight_decay / warmup_fraction and AdamW serve the mimic variant and logit KD).
    """

    variant: GenKDVariant = "released"
    student_stage: str | None = None
    hidden: int = 256
    generative_weight: float = 0.01
    attention_weight: float = 0.1
    reconstruction_weight: float = 0.5
    reconstruction_ramp_epochs: int = 20
    kl_weight: float = 0.1
    cvae_lr: float = 1e-4
    cvae_betas: tuple[float, float] = (0.8, 0.999)
    student_lr: float = 1e-3
    student_momentum: float = 0.9
    student_weight_decay: float = 5e-4

    def __post_init__(self) -> None:
        if self.variant not in ("released", "mimic"):
            raise ValueError(f"genkd.variant must be 'released' or 'mimic', got {self.variant!r} "
                             "(--model.init_args.genkd.variant)")
        self.cvae_betas = tuple(self.cvae_betas)

    @classmethod
    def from_saved(cls, saved: dict) -> GenKDOptions:
        """Options as a checkpoint's hyper_parameters hold them; written before the variants: mimic."""
        return cls(**{"variant": "mimic", **saved})

    def reconstruction_weight_at(self, epoch: int) -> float:
        ramp = self.reconstruction_ramp_epochs
        return self.reconstruction_weight * (min(epoch, ramp) / ramp if ramp > 0 else 1.0)


def _spread(gate: Tensor, like: Tensor) -> Tensor:
    """(B, C, T) gate -> broadcast over the (H, W) of a (B, C, T, H, W) map."""
    return gate[..., None, None].expand_as(like)


class AttentionHead(nn.Module):
    """Feature map (B, C, T, H, W) -> gate (B, C, T) in [0, 1]: spatial mean, temporal and pointwise conv."""

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv1d(channels, hidden, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv1d(hidden, channels, kernel_size=1),
        )

    def logits(self, feature_map: Tensor) -> Tensor:
        return self.net(feature_map.mean(dim=(3, 4)))

    def forward(self, feature_map: Tensor) -> Tensor:
        return torch.sigmoid(self.logits(feature_map))


class ConditionalVAE(nn.Module):
    """Pointwise CVAE of a feature map given the gate; the latent has the map's shape and prior N(gate, I)."""

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv3d(2 * channels, hidden, 1), nn.ReLU(inplace=True), nn.Conv3d(hidden, 2 * channels, 1)
        )
        self.decoder = nn.Sequential(
            nn.Conv3d(2 * channels, hidden, 1), nn.ReLU(inplace=True), nn.Conv3d(hidden, channels, 1)
        )

    def forward(self, feature_map: Tensor, gate: Tensor, sample: bool | None = None) -> tuple[Tensor, Tensor]:
        """(reconstruction, KL to the prior averaged per element, on the scale of the MSE it is added to).

        `sample`: draw the latent (default in train mode) or take its mean (default in eval mode, so a
        validation loss is deterministic)."""
        sample = self.training if sample is None else sample
        condition = _spread(gate, feature_map)
        mean, log_var = self.encoder(torch.cat([feature_map, condition], dim=1)).chunk(2, dim=1)
        latent = mean + torch.randn_like(mean) * (0.5 * log_var).exp() if sample else mean
        reconstruction = self.decoder(torch.cat([latent, condition], dim=1))
        kl = 0.5 * (log_var.exp() + (mean - condition).pow(2) - 1.0 - log_var).mean()
        return reconstruction, kl

    def generate(self, gate: Tensor, size: tuple[int, int]) -> Tensor:
        """The decoder on a prior sample z ~ N(gate, I) (the released CVAE's 'inference' mode) at (H, W)."""
        condition = gate[..., None, None].expand(*gate.shape, *size)
        latent = condition + torch.randn_like(condition)
        return self.decoder(torch.cat([latent, condition], dim=1))


def cvae_loss(
    cvae: ConditionalVAE, feature_map: Tensor, gate: Tensor, kl_weight: float, sample: bool | None = None
) -> tuple[dict[str, Tensor], Tensor]:
    """The CVAE's own loss (multisegment_loss.py's loss_cvae: MSE + kl_weight * KL) as named terms, and the
    reconstruction it was computed on (the released CVAE epoch compares it with the teacher CVAE's).
    `sample` as in ConditionalVAE.forward."""
    reconstruction, kl = cvae(feature_map, gate, sample=sample)
    recon = F.mse_loss(reconstruction, feature_map)
    return {"loss_cvae": recon + kl_weight * kl, "loss_cvae_recon": recon, "loss_cvae_kl": kl}, reconstruction


class FeatureModel(nn.Module):
    """Phase 1 on the frozen teacher's feature map: attention head, CVAE, and the linear classifier on the
    gated, pooled map that gives the gate its training signal (it must keep what tells classes apart)."""

    def __init__(self, channels: int, num_classes: int, hidden: int) -> None:
        super().__init__()
        self.attention = AttentionHead(channels, hidden)
        self.cvae = ConditionalVAE(channels, hidden)
        self.gate_classifier = nn.Linear(channels, num_classes)

    def losses(self, feature_map: Tensor, label: Tensor, kl_weight: float) -> dict[str, Tensor]:
        gate = self.attention(feature_map)
        gated = (feature_map * _spread(gate, feature_map)).mean(dim=(2, 3, 4))
        gate_ce = F.cross_entropy(self.gate_classifier(gated), label)
        # The CVAE models the map given the gate; its error must not reshape the gate.
        terms, _ = cvae_loss(self.cvae, feature_map, gate.detach(), kl_weight)
        return {"loss": gate_ce + terms["loss_cvae"], "loss_gate": gate_ce, **terms}


class StudentFeatureModel(nn.Module):
    """Phase 2 of the mimic variant, training-only: adapter to the teacher's map, and the student's attention
    head and CVAE (copies of the teacher's)."""

    def __init__(self, student_channels: int, teacher: FeatureModel) -> None:
        super().__init__()
        teacher_channels = teacher.gate_classifier.in_features
        self.adapter = (
            nn.Conv3d(student_channels, teacher_channels, 1)
            if student_channels != teacher_channels
            else nn.Identity()
        )
        self.attention = copy.deepcopy(teacher.attention).requires_grad_(True).train()
        self.cvae = copy.deepcopy(teacher.cvae).requires_grad_(True).train()

    def adapt(self, student_map: Tensor, teacher_map: Tensor) -> Tensor:
        """The student's map in the teacher's width (1x1x1 conv) and size (adaptive average pooling)."""
        adapted = self.adapter(student_map)
        if adapted.shape[2:] != teacher_map.shape[2:]:
            adapted = F.adaptive_avg_pool3d(adapted, teacher_map.shape[2:])
        return adapted


def distillation_losses(
    student_map: Tensor,
    student_gate: Tensor,
    teacher_map: Tensor,
    student: StudentFeatureModel,
    teacher: FeatureModel,
) -> dict[str, Tensor]:
    """The three feature terms of the mimic variant's phase 2, unweighted. ``student_map`` is already adapted
    and ``student_gate`` is ``student.attention(student_map)``; the frozen teacher side only gives targets."""
    with torch.no_grad():
        teacher_gate = teacher.attention(teacher_map)
        teacher_view_of_student, _ = teacher.cvae(student_map, teacher_gate, sample=False)
    reconstruction, _ = student.cvae(student_map, student_gate)
    return {
        "loss_att": F.mse_loss(student_gate, teacher_gate),
        "loss_gen": F.mse_loss(reconstruction, teacher_view_of_student),
        "loss_rec": F.mse_loss(reconstruction, teacher_map),
    }


# ---- the released variant ---------------------------------------------------------------------------------


def gated_map(feature_map: Tensor, gate: Tensor) -> Tensor:
    """feature_map * gate, renormalised to the map's own sum (BDNet's ``feature_fg_5c / feature_fg_5c.sum() *
    feature_5c.sum()``). The released code sums over the whole batch tensor, so a clip's logits would depend
    on the clips batched with it; here each clip is renormalised alone (the same at its test batch size 1)."""
    gated = feature_map * _spread(gate, feature_map)
    dims = tuple(range(1, feature_map.ndim))
    gated_sum = gated.sum(dim=dims, keepdim=True)
    # A map of zeros (a dead stage) stays zeros instead of becoming 0/0.
    return gated * (feature_map.sum(dim=dims, keepdim=True) / torch.where(gated_sum == 0, 1.0, gated_sum))


class StudentGate(nn.Module):
    """The released variant's gate, part of the deployed student: stage map -> (renormalised gated map,
    gate logits). dlkdd's AttentionHead network (any clip and crop size) in the student's width."""

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.attention = AttentionHead(channels, hidden)

    def forward(self, feature_map: Tensor) -> tuple[Tensor, Tensor]:
        logits = self.attention.logits(feature_map)
        return gated_map(feature_map, torch.sigmoid(logits)), logits


def check_gateable(layout: str, stage: str) -> None:
    if layout == "tokens":
        raise ValueError(
            f"genkd.variant released gates the student's stage map inside its forward, but stage {stage!r} "
            "outputs tokens; pick a convolutional --model.init_args.genkd.student_stage, or use "
            "--model.init_args.genkd.variant mimic"
        )


@contextmanager
def gate_inserted(stage_module: nn.Module, layout: str, gate: StudentGate) -> Iterator[dict[str, Tensor]]:
    """Within the block, ``stage_module``'s output is replaced by its gated map, so everything after the stage
    (pool, classifier) sees the gated features; the ungated map ("map") and the gate logits ("logits") of the
    last forward are recorded."""
    recorded: dict[str, Tensor] = {}

    def hook(_module: nn.Module, _inputs: object, output: Tensor) -> Tensor:
        feature_map = output.permute(0, 4, 1, 2, 3) if layout == "BTHWC" else output
        gated, recorded["logits"] = gate(feature_map)
        recorded["map"] = feature_map
        return gated.permute(0, 2, 3, 4, 1) if layout == "BTHWC" else gated

    handle = stage_module.register_forward_hook(hook)
    try:
        yield recorded
    finally:
        handle.remove()


class ReleasedStudentSide(nn.Module):
    """Training-only modules of the released variant: the student's fresh CVAE (in the teacher's width, so the
    teacher CVAE's reconstruction of the same input can be its target) and the two adapters dlkdd's mixed
    backbones need (identities when the student's width and time steps are the teacher's)."""

    def __init__(self, student_channels: int, teacher_channels: int, hidden: int) -> None:
        super().__init__()
        same = student_channels == teacher_channels
        self.adapter = nn.Identity() if same else nn.Conv3d(student_channels, teacher_channels, 1)
        self.gate_adapter = nn.Identity() if same else nn.Conv1d(student_channels, teacher_channels, 1)
        self.cvae = ConditionalVAE(teacher_channels, hidden)

    def adapt(self, student_map: Tensor, gate_logits: Tensor) -> tuple[Tensor, Tensor]:
        """(the student's map, its gate) in the teacher's width, at the student's own size."""
        return self.adapter(student_map), torch.sigmoid(self.gate_adapter(gate_logits))


def gate_in_time(gate: Tensor, steps: int) -> Tensor:
    """(B, C, T) gate -> (B, C, steps): linear interpolation over time (a no-op when T == steps)."""
    if gate.shape[-1] == steps:
        return gate
    return F.interpolate(gate, size=steps, mode="linear", align_corners=False)


def released_cvae_terms(
    student_cvae: ConditionalVAE, teacher_cvae: ConditionalVAE, feature_map: Tensor, gate: Tensor,
    kl_weight: float,
) -> dict[str, Tensor]:
    """The CVAE epoch's terms, unweighted (train_Top_I3D_KD.py, stage 1): the student CVAE's own loss on the
    student's map and gate, and ``loss_gen`` = MSE(its reconstruction, the frozen teacher CVAE's
    reconstruction of the same map given the same gate). Both CVAEs sample their latent, as released."""
    terms, reconstruction = cvae_loss(student_cvae, feature_map, gate, kl_weight, sample=True)
    with torch.no_grad():
        teacher_reconstruction, _ = teacher_cvae(feature_map, gate, sample=True)
    terms["loss_gen"] = F.mse_loss(reconstruction, teacher_reconstruction)
    return terms


def released_student_terms(
    student_cvae: ConditionalVAE, feature_map: Tensor, gate: Tensor, teacher_gate: Tensor
) -> dict[str, Tensor]:
    """The student epoch's feature terms, unweighted (train_Top_I3D_KD.py, stage 2): ``loss_rec`` =
    MSE(the student CVAE's decoder on z ~ N(gate, I), the student's own map) and ``loss_att`` = MSE(student
    gate, teacher gate), the student's gate brought to the teacher's time steps. Gradients reach the student
    through the map, the gate and the (frozen) decoder."""
    generated = student_cvae.generate(gate, feature_map.shape[-2:])
    return {
        "loss_rec": F.mse_loss(generated, feature_map),
        "loss_att": F.mse_loss(gate_in_time(gate, teacher_gate.shape[-1]), teacher_gate),
    }
