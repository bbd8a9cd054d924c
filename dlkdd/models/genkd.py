"""Generative feature distillation (GenKD, AAAI-24), small enough to cost a few MB.

Phase 1 (:class:`FeatureModel`, trained with a frozen teacher): an attention head gates the teacher's late
feature map per channel and time step, and a conditional VAE learns to reconstruct the map from a latent
whose prior is N(gate, I). Phase 2 (:class:`StudentFeatureModel`, training-only in DistillModule): the
student's adapted features get their own attention head and CVAE (copies of the teacher's to start with),
pulled toward the teacher's attention and toward the frozen teacher CVAE's reconstruction.

The published code runs a 7x7-kernel CVAE of ~112M parameters on fixed sizes; here the attention head pools
space and the CVAE is pointwise (1x1x1 convs), so any clip and crop size works and 512 channels cost ~1M
parameters.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

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


@dataclass
class GenKDOptions:
    """Phase 2 (on DistillModule); the student's attention head and CVAE copy the teacher's phase-1 ones.

    Attributes:
        student_stage: the student stage to distil into; None = its backbone's last stage.
        generative_weight: weight of MSE(student CVAE reconstruction, teacher CVAE reconstruction).
        attention_weight: weight of MSE(student gate, teacher gate).
        reconstruction_weight: final weight of MSE(student CVAE reconstruction, teacher features) ...
        reconstruction_ramp_epochs: ... reached linearly over this many epochs:
            weight * min(epoch, ramp) / ramp.
        kl_weight: weight of the KL term in the student CVAE's own loss.
        cvae_lr: learning rate of the student CVAE's optimizer (AdamW, constant).
    """

    student_stage: str | None = None
    generative_weight: float = 0.01
    attention_weight: float = 0.1
    reconstruction_weight: float = 0.5
    reconstruction_ramp_epochs: int = 20
    kl_weight: float = 0.1
    cvae_lr: float = 1e-3

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

    def forward(self, feature_map: Tensor) -> Tensor:
        return torch.sigmoid(self.net(feature_map.mean(dim=(3, 4))))


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


def cvae_loss(cvae: ConditionalVAE, feature_map: Tensor, gate: Tensor, kl_weight: float) -> dict[str, Tensor]:
    reconstruction, kl = cvae(feature_map, gate)
    recon = F.mse_loss(reconstruction, feature_map)
    return {"loss_cvae": recon + kl_weight * kl, "loss_cvae_recon": recon, "loss_cvae_kl": kl}


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
        terms = cvae_loss(self.cvae, feature_map, gate.detach(), kl_weight)
        return {"loss": gate_ce + terms["loss_cvae"], "loss_gate": gate_ce, **terms}


class StudentFeatureModel(nn.Module):
    """Phase 2, training-only: adapter to the teacher's map, and the student's attention head and CVAE."""

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
    """The three feature terms of phase 2, unweighted. ``student_map`` is already adapted and
    ``student_gate`` is ``student.attention(student_map)``; the frozen teacher side only gives targets."""
    with torch.no_grad():
        teacher_gate = teacher.attention(teacher_map)
        teacher_view_of_student, _ = teacher.cvae(student_map, teacher_gate, sample=False)
    reconstruction, _ = student.cvae(student_map, student_gate)
    return {
        "loss_att": F.mse_loss(student_gate, teacher_gate),
        "loss_gen": F.mse_loss(reconstruction, teacher_view_of_student),
        "loss_rec": F.mse_loss(reconstruction, teacher_map),
    }
