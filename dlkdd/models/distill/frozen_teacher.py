"""FrozenTeacher: the teacher a regime distils from during a fit, frozen and in eval mode."""

from __future__ import annotations

import torch
from torch import Tensor

from dlkdd.backbones.features import forward_with_features
from dlkdd.models.teacher import TeacherModule


class FrozenTeacher:
    """A TeacherModule's backbone, its view and (for GenKD) its phase-1 feature model and stage.

    A plain object rather than a submodule of the student on purpose: the teacher is never in the student's
    state_dict (student checkpoints stay student-only), not moved by .train(), not wrapped by DDP and not
    touched by the optimizer."""

    def __init__(self, teacher: TeacherModule, with_features: bool = False) -> None:
        self.backbone = teacher.backbone.eval().requires_grad_(False)
        self.view: str = teacher.hparams.view
        # GenKD phase 1: the attention head + CVAE of the teacher, and the stage they model.
        self.features = teacher.feature_model.eval().requires_grad_(False) if with_features else None
        self.stage = teacher.feature_stage if with_features else None

    def to(self, device: torch.device) -> None:
        self.backbone.to(device)
        if device.type == "cuda":
            self.backbone.to(memory_format=torch.channels_last_3d)
        if self.features is not None:
            self.features.to(device)

    def __call__(self, video: Tensor, features: bool = False) -> tuple[Tensor, Tensor | None]:
        """Teacher logits (and, with `features`, its phase-1 stage's feature map) as float32 tensors.

        The teacher runs under inference_mode (no autograd state at all) and, on CUDA, in channels_last_3d
        with bf16 autocast; inference tensors cannot be saved for backward, so what the losses use is copied
        out (logits and one late feature map: small next to the forward itself)."""
        cuda = video.device.type == "cuda"
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
            if cuda:
                video = video.contiguous(memory_format=torch.channels_last_3d)
            if features:
                output, feature_map = forward_with_features(self.backbone, video, self.stage)
            else:
                output, feature_map = self.backbone(video), None
        logits = output.logits.to(torch.float32, copy=True)
        return logits, None if feature_map is None else feature_map.to(torch.float32, copy=True)
