"""Regime: what every distillation regime shares, and the hooks through which DistillModule uses one."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch.nn.functional as F
from torch import Tensor

from dlkdd.data.batch import Batch
from dlkdd.models.distill.frozen_teacher import FrozenTeacher
from dlkdd.models.losses import soft_target_kd
from dlkdd.models.teacher import TeacherModule, load_teacher

if TYPE_CHECKING:
    from dlkdd.models.distill.module import DistillModule

# Checkpoint key of the GenKD training-only weights: kept for a resumed fit, out of the student's state_dict.
TRAINING_ONLY_KEY = "dlkdd_training_only"
# The student's `genkd` submodule holds them (see DistillModule); every regime writes the key (empty for
# logit KD), so every distillation checkpoint has the same layout.
TRAINING_ONLY_PREFIX = "genkd."


class Regime:
    """How a DistillModule trains: the teacher it loads, its losses, optimizers, epoch hooks and checkpoint
    keys. The module passes itself to each hook; a regime keeps only what is its own (the frozen teacher,
    options, caches), never the module."""

    automatic_optimization = True
    # LogitKD's cache of the teacher's logits; None: the teacher runs on every batch.
    teacher_targets: dict | None = None

    def __init__(self) -> None:
        self.teacher: FrozenTeacher | None = None  # loaded by setup_fit: a fit's only

    def setup_fit(self, module: DistillModule) -> None:
        """Loads the frozen teacher (once: a second fit of the same module keeps it), then builds what the
        regime trains beside the student. Runs before the move to the device and configure_optimizers, so
        both see what it builds."""
        if self.teacher is not None:
            return
        hp = module.hparams
        teacher = load_teacher(hp.teacher_checkpoint, hp.num_classes, hp.class_names)
        self.teacher = self.frozen_teacher(module, teacher)
        self.build_training_modules(module)

    def frozen_teacher(self, module: DistillModule, teacher: TeacherModule) -> FrozenTeacher:
        """What of the loaded teacher the regime needs, frozen."""
        return FrozenTeacher(teacher)

    def build_training_modules(self, module: DistillModule) -> None:
        """Training-only modules beside the student (module.genkd); none by default."""

    def forward(self, module: DistillModule, video: Tensor) -> Tensor:
        """The student's logits, in training and at test/predict."""
        return module.backbone(video).logits

    def on_fit_start(self, module: DistillModule) -> None:
        self.teacher.to(module.device)

    def on_train_epoch_start(self, module: DistillModule) -> None:
        pass

    def student_trained_in_epoch(self, epoch: int) -> bool:
        """Whether the student learned (and is scored) in this Lightning epoch."""
        return True

    def training_step(self, module: DistillModule, batch: Batch) -> Tensor | None:
        raise NotImplementedError

    def configure_optimizers(self, module: DistillModule):
        raise NotImplementedError

    def logit_losses(self, module: DistillModule, logits: Tensor, teacher_logits: Tensor,
                     label: Tensor) -> dict[str, Tensor]:
        """alpha * CE(student, label) + (1 - alpha) * T^2 * KL(teacher/T || student/T): every regime's."""
        ce = F.cross_entropy(logits, label)
        kd = soft_target_kd(logits, teacher_logits, module.hparams.temperature)
        alpha = module.hparams.alpha
        return {"loss": alpha * ce + (1 - alpha) * kd, "loss_ce": ce, "loss_kd": kd}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint["state_dict"]
        training_only = [key for key in state if key.startswith(TRAINING_ONLY_PREFIX)]
        checkpoint[TRAINING_ONLY_KEY] = {key: state.pop(key) for key in training_only}

    def variant_switch(self, module: DistillModule, checkpoint: dict):
        """The GenKD options of a checkpoint written under another GenKD variant, whose regime must then
        replace this one (see GenKDRegime); None: this regime stays."""
        return None

    def on_load_checkpoint(self, module: DistillModule, checkpoint: dict) -> None:
        pass
