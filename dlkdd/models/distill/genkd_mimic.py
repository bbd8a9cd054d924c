"""GenKDMimic: dlkdd's own earlier GenKD variant (dlkdd.models.genkd, ``mimic``); the student is the plain
student, its gate a training-only side branch."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from dlkdd.backbones.features import forward_with_features
from dlkdd.data.batch import Batch
from dlkdd.models.distill.genkd_regime import GenKDRegime
from dlkdd.models.genkd import StudentFeatureModel, cvae_loss, distillation_losses

if TYPE_CHECKING:
    from dlkdd.models.distill.module import DistillModule


class GenKDMimic(GenKDRegime):
    """Per batch the student's CVAE steps on its own loss, then the student steps on the logit terms plus the
    weighted feature terms (ramped reconstruction weight, epochs from 0), with the module's AdamW and
    per-step schedule."""

    def training_modules(self, student_channels: int) -> StudentFeatureModel:
        # Adapter, and copies of the teacher's attention head and CVAE.
        return StudentFeatureModel(student_channels, self.teacher.features)

    def training_step(self, module: DistillModule, batch: Batch) -> None:
        options, genkd = self.options, module.genkd
        student_optimizer, cvae_optimizer = module.optimizers()
        teacher_logits, teacher_map = self.teacher(batch[self.teacher.view], features=True)
        video = batch[module.hparams.view]
        output, student_map = forward_with_features(module.backbone, video, self.student_stage)
        adapted = genkd.adapt(student_map, teacher_map)
        student_gate = genkd.attention(adapted)

        # The student's CVAE first learns the student's current features (detached: its own step) ...
        cvae_terms, _ = cvae_loss(genkd.cvae, adapted.detach(), student_gate.detach(), options.kl_weight)
        self.step(module, cvae_optimizer, cvae_terms["loss_cvae"])

        # ... then the student steps on the logit and feature terms, through the updated CVAE.
        losses = self.logit_losses(module, output.logits, teacher_logits, batch["label"])
        feature_terms = distillation_losses(adapted, student_gate, teacher_map, genkd, self.teacher.features)
        rec_weight = options.reconstruction_weight_at(module.current_epoch)
        losses["loss"] = (
            losses["loss"]
            + options.generative_weight * feature_terms["loss_gen"]
            + options.attention_weight * feature_terms["loss_att"]
            + rec_weight * feature_terms["loss_rec"]
        )
        self.step(module, student_optimizer, losses["loss"])
        module.lr_schedulers().step()  # per batch, as the automatic mode's "interval: step"

        logged = {**losses, **feature_terms, **cvae_terms, "rec_weight": rec_weight}
        module.log_training_step(logged, output.logits, batch["label"])

    def configure_optimizers(self, module: DistillModule):
        # The student side (backbone, adapter, attention head) gets the usual AdamW and per-step schedule;
        # the student's CVAE an AdamW of its own, constant.
        student = module.adamw_with_schedule(self.student_parameters(module))
        cvae_optimizer = torch.optim.AdamW(module.genkd.cvae.parameters(), lr=self.options.cvae_lr,
                                           weight_decay=module.hparams.weight_decay)
        return [student["optimizer"], cvae_optimizer], [student["lr_scheduler"]]
