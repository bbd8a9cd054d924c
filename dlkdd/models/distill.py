"""DistillModule (stage 2): a student on the original dark view, taught by a frozen teacher that sees
the enhanced view. At inference the student runs alone: the teacher is never part of its checkpoint."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from dlkdd.models.classifier import VideoClassifier, View
from dlkdd.models.losses import soft_target_kd
from dlkdd.models.teacher import load_teacher


class DistillModule(VideoClassifier):
    """Loss = alpha * CE(student, label) + (1 - alpha) * T^2 * KL(teacher/T || student/T).

    Args (besides VideoClassifier's, which describe the student):
        teacher_checkpoint: a TeacherModule checkpoint; its saved hyperparameters rebuild the teacher.
            Needed to fit only: validate/test/predict run the student alone.
        alpha: weight of the hard-label cross-entropy; 1 - alpha weighs the soft-target term.
        temperature: softmax temperature T of the soft targets.
    """

    def __init__(
        self,
        num_classes: int,
        teacher_checkpoint: str,
        backbone: str = "tiny3d",
        pretrained: str | None = None,
        view: View = "original",
        dropout: float = 0.0,
        lr: float = 1e-3,
        weight_decay: float = 0.05,
        warmup_fraction: float = 0.1,
        class_names: list[str] | None = None,
        alpha: float = 0.5,
        temperature: float = 4.0,
    ) -> None:
        super().__init__(
            num_classes, backbone, pretrained, view, dropout, lr, weight_decay, warmup_fraction, class_names
        )
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha} (--model.init_args.alpha)")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature} (--model.init_args.temperature)")
        # Kept out of nn.Module registration on purpose: not in state_dict (student checkpoints stay
        # student-only), not moved by .train(), not wrapped by DDP, not touched by the optimizer.
        self.__dict__["teacher"] = None
        self.__dict__["teacher_view"] = None

    def setup(self, stage: str) -> None:
        if stage == "fit" and self.teacher is None:
            teacher = load_teacher(self.hparams.teacher_checkpoint, self.hparams.num_classes)
            self.__dict__["teacher"] = teacher.backbone.eval().requires_grad_(False)
            self.__dict__["teacher_view"] = teacher.hparams.view

    def on_fit_start(self) -> None:
        self.teacher.to(self.device)

    @property
    def input_views(self) -> set[str]:
        if self.teacher is not None and self.trainer.training:
            return {self.hparams.view, self.teacher_view}
        return {self.hparams.view}

    def training_losses(self, batch: dict) -> tuple[dict[str, Tensor], Tensor]:
        logits = self(batch[self.hparams.view])
        with torch.no_grad():
            teacher_logits = self.teacher(batch[self.teacher_view]).logits
        ce = F.cross_entropy(logits, batch["label"])
        kd = soft_target_kd(logits, teacher_logits, self.hparams.temperature)
        alpha = self.hparams.alpha
        return {"loss": alpha * ce + (1 - alpha) * kd, "loss_ce": ce, "loss_kd": kd}, logits
