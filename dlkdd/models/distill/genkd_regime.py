"""GenKDRegime: what GenKD's two variants (genkd_released.py, genkd_mimic.py) share."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

from lightning.pytorch.core.optimizer import LightningOptimizer
from torch import Tensor, nn

from dlkdd.backbones.features import stage_channels, stage_name
from dlkdd.models.distill.frozen_teacher import FrozenTeacher
from dlkdd.models.distill.regime import TRAINING_ONLY_KEY, Regime
from dlkdd.models.genkd import GenKDOptions
from dlkdd.models.teacher import TeacherModule

if TYPE_CHECKING:
    from dlkdd.models.distill.module import DistillModule


class GenKDRegime(Regime):
    """Generative feature distillation (dlkdd.models.genkd) into the student's stage `options.student_stage`,
    from a teacher written by GenKD phase 1. Manual optimization: the student and the student's CVAE have an
    optimizer each. The training-only modules (the student's CVAE, adapters; the mimic variant's attention
    head) are module.genkd: saved under TRAINING_ONLY_KEY for a resumed fit, never in the student's
    state_dict."""

    automatic_optimization = False

    def __init__(self, module: DistillModule, options: GenKDOptions) -> None:
        super().__init__()
        self.options = options
        module.hparams["genkd"] = asdict(options)  # plain types: checkpoints load with weights_only=True
        self.student_stage = stage_name(module.backbone, options.student_stage,
                                        "--model.init_args.genkd.student_stage")

    def frozen_teacher(self, module: DistillModule, teacher: TeacherModule) -> FrozenTeacher:
        if teacher.feature_model is None:
            raise ValueError(
                f"Teacher {module.hparams.teacher_checkpoint} (--model.init_args.teacher_checkpoint) has no "
                "GenKD feature model, which --model.init_args.genkd needs. Run phase 1 on it first, e.g. "
                "`dlkdd fit --config configs/synthetic/teacher_genkd.yaml`, and pass that run's best.ckpt."
            )
        return FrozenTeacher(teacher, with_features=True)

    def build_training_modules(self, module: DistillModule) -> None:
        module.genkd = self.training_modules(stage_channels(module.backbone, self.student_stage))

    def training_modules(self, student_channels: int) -> nn.Module:
        raise NotImplementedError

    @staticmethod
    def step(module: DistillModule, optimizer: LightningOptimizer, loss: Tensor) -> None:
        """One manual optimization step of `optimizer` on `loss`."""
        optimizer.zero_grad()
        module.manual_backward(loss)
        optimizer.step()

    def student_parameters(self, module: DistillModule) -> list[nn.Parameter]:
        """What the student's optimizer steps: everything trainable but the student's CVAE, which has an
        optimizer of its own and steps on its own loss."""
        return [p for name, p in module.named_parameters()
                if p.requires_grad and not name.startswith("genkd.cvae.")]

    def variant_switch(self, module: DistillModule, checkpoint: dict) -> GenKDOptions | None:
        """The checkpoint's variant decides whether the student has a gate. LightningCLI merges a checkpoint's
        hyperparameters into the config's, so a checkpoint written before the variants (no `variant`: mimic)
        would otherwise meet the config's `released` and a gate it never had."""
        saved = checkpoint.get("hyper_parameters", {}).get("genkd")
        if saved is None:
            return None
        saved = GenKDOptions.from_saved(saved)
        if saved.variant == self.options.variant:
            return None
        if module.genkd is not None:  # a resumed fit: its training-only modules are the other variant's
            raise ValueError(
                f"The checkpoint was written by GenKD variant {saved.variant!r}, the config asks for "
                f"{self.options.variant!r}: resume with --model.init_args.genkd.variant {saved.variant}"
            )
        self.options.variant = saved.variant
        module.hparams["genkd"] = asdict(self.options)
        return saved

    def on_load_checkpoint(self, module: DistillModule, checkpoint: dict) -> None:
        # A resumed fit (setup built the GenKD modules) gets them back; test/predict load the student alone.
        if module.genkd is not None:
            checkpoint["state_dict"].update(checkpoint.get(TRAINING_ONLY_KEY, {}))
