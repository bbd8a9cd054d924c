"""GenKDReleased: GenKD as aaai-24/Generative-based-KD released it (train_Top_I3D_KD.py; dlkdd.models.genkd,
``released``): the gate is part of the student, and whole epochs alternate between the student's CVAE and
the student."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from dlkdd.backbones.features import stage_channels
from dlkdd.data.batch import Batch
from dlkdd.models.distill.genkd_regime import GenKDRegime
from dlkdd.models.genkd import (
    GenKDOptions,
    ReleasedStudentSide,
    StudentGate,
    check_gateable,
    gate_inserted,
    released_cvae_terms,
    released_student_terms,
)

if TYPE_CHECKING:
    from dlkdd.models.distill.module import DistillModule


class GenKDReleased(GenKDRegime):
    """Even Lightning epochs (0, 2, ...) train the student's CVAE, odd ones the student, so max_epochs is
    twice the released code's epochs. The student's gate (module.gate) is built here, with the student: it is
    in the student's state_dict and runs at test and predict."""

    def __init__(self, module: DistillModule, options: GenKDOptions, gate_hidden: int | None = None) -> None:
        """`gate_hidden`: the gate's width when a checkpoint's own differs from the options' (see
        GenKDRegime.variant_switch)."""
        super().__init__(module, options)
        spec = module.backbone.spec
        self.layout = spec.feature_layout if self.student_stage == spec.last_stage else "BCTHW"
        check_gateable(self.layout, self.student_stage)
        hidden = options.hidden if gate_hidden is None else gate_hidden
        module.gate = StudentGate(stage_channels(module.backbone, self.student_stage), hidden)

    def training_modules(self, student_channels: int) -> ReleasedStudentSide:
        # Fresh, as released (the mimic variant copies the teacher's).
        teacher_channels = self.teacher.features.gate_classifier.in_features
        return ReleasedStudentSide(student_channels, teacher_channels, self.options.hidden)

    def forward(self, module: DistillModule, video: Tensor) -> Tensor:
        return self.gated_forward(module, video)[0].logits

    def gated_forward(self, module: DistillModule, video: Tensor):
        """The gated student's (output, ungated stage map (B, C, T, H, W), gate logits (B, C, T))."""
        stage = module.backbone.get_submodule(self.student_stage)
        with gate_inserted(stage, self.layout, module.gate) as recorded:
            output = module.backbone(video)
        return output, recorded["map"], recorded["logits"]

    @staticmethod
    def is_cvae_epoch(epoch: int) -> bool:
        """Lightning epochs 0, 2, 4, ... are the released code's CVAE epochs."""
        return epoch % 2 == 0

    def on_train_epoch_start(self, module: DistillModule) -> None:
        # Each side is frozen during the other's epoch, as released (no gradients pile up on it).
        module.genkd.cvae.requires_grad_(self.is_cvae_epoch(module.current_epoch))

    def student_trained_in_epoch(self, epoch: int) -> bool:
        return not self.is_cvae_epoch(epoch)

    def training_step(self, module: DistillModule, batch: Batch) -> None:
        step = self.cvae_step if self.is_cvae_epoch(module.current_epoch) else self.student_step
        step(module, batch)

    def cvae_step(self, module: DistillModule, batch: Batch) -> None:
        """train_Top_I3D_KD.py stage 1: only the student's CVAE learns; the student runs (in train mode, as
        released, so its BatchNorm statistics move) without gradients."""
        options = self.options
        _, cvae_optimizer = module.optimizers()
        video = batch[module.hparams.view]
        with torch.no_grad():
            _, student_map, gate_logits = self.gated_forward(module, video)
            feature_map, gate = module.genkd.adapt(student_map, gate_logits)
        terms = released_cvae_terms(module.genkd.cvae, self.teacher.features.cvae, feature_map, gate,
                                    options.kl_weight)
        loss = terms["loss_cvae"] + options.generative_weight * terms["loss_gen"]
        self.step(module, cvae_optimizer, loss)
        logged = {"loss_cvae_epoch": loss, **terms}
        module.log_dict({f"train/{name}": value for name, value in logged.items()},
                        batch_size=video.shape[0], prog_bar=True)

    def student_step(self, module: DistillModule, batch: Batch) -> None:
        """train_Top_I3D_KD.py stage 2: the gated student learns on its logit loss, the ramped prior
        reconstruction of its own map and the attention term; the student's CVAE is frozen."""
        options = self.options
        student_optimizer, _ = module.optimizers()
        teacher_logits, teacher_map = self.teacher(batch[self.teacher.view], features=True)
        with torch.no_grad():
            teacher_gate = self.teacher.features.attention(teacher_map)
        output, student_map, gate_logits = self.gated_forward(module, batch[module.hparams.view])
        feature_map, gate = module.genkd.adapt(student_map, gate_logits)
        losses = self.logit_losses(module, output.logits, teacher_logits, batch["label"])
        terms = released_student_terms(module.genkd.cvae, feature_map, gate, teacher_gate)
        # Released epochs count from 1 and hold one CVAE and one student Lightning epoch each.
        rec_weight = options.reconstruction_weight_at(module.current_epoch // 2 + 1)
        losses["loss"] = (
            losses["loss"] + rec_weight * terms["loss_rec"] + options.attention_weight * terms["loss_att"]
        )
        self.step(module, student_optimizer, losses["loss"])
        module.log_training_step({**losses, **terms, "rec_weight": rec_weight}, output.logits, batch["label"])

    def configure_optimizers(self, module: DistillModule):
        # As released: SGD for the student (backbone, gate, adapters), Adam for its CVAE; both constant.
        options = self.options
        student = torch.optim.SGD(self.student_parameters(module), lr=options.student_lr,
                                  momentum=options.student_momentum,
                                  weight_decay=options.student_weight_decay)
        cvae = torch.optim.Adam(module.genkd.cvae.parameters(), lr=options.cvae_lr, betas=options.cvae_betas)
        return [student, cvae]
