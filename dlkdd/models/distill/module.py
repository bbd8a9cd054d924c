"""DistillModule (stage 2): a student on the original dark view, taught by a frozen teacher that sees the
enhanced view. At inference the student runs alone: the teacher is never part of its checkpoint. How it
trains is its regime's (regimes.py): the module holds the student and what every regime shares (the views,
the validation against the teacher, the checkpoint hooks) and hands the rest to the regime."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from dlkdd.backbones import Backbone
from dlkdd.backbones.features import captured_output
from dlkdd.data.batch import Batch, Predictions, View
from dlkdd.data.views import video_probabilities
from dlkdd.models.classifier import VideoClassifier
from dlkdd.models.distill.regime import Regime
from dlkdd.models.distill.regimes import regime_for
from dlkdd.models.genkd import GenKDOptions, StudentGate


class DistillModule(VideoClassifier):
    """Loss = alpha * CE(student, label) + (1 - alpha) * T^2 * KL(teacher/T || student/T)
    [+ GenKD: generative_weight * gen + attention_weight * att + ramped reconstruction_weight * rec].

    Args (besides VideoClassifier's, which describe the student):
        teacher_checkpoint: a TeacherModule checkpoint; its saved hyperparameters rebuild the teacher.
            Needed to fit only: validate/test/predict run the student alone.
        alpha: weight of the hard-label cross-entropy; 1 - alpha weighs the soft-target term.
        temperature: softmax temperature T of the soft targets.
        genkd: generative feature distillation (see dlkdd.models.genkd); needs a teacher checkpoint
            written by GenKD phase 1 (TeacherModule with feature_model). Trains with manual optimization.
            variant released: the student's gate is part of the student (forward, state_dict, test,
            predict); even Lightning epochs (0, 2, ...) train the student's CVAE, odd ones the student
            (so max_epochs is twice the released code's epochs; validate with check_val_every_n_epoch 2).
            variant mimic: the student's CVAE and the student step in turn on each batch; the student
            checkpoint is the plain student.
        cache_teacher_targets: keep the teacher's logits of each training clip (video index, start frame)
            and run the teacher only on clips it has not seen. Valid only when a clip's teacher view is
            always the same, so it needs --data.augment false (centre crops); logit KD only. The cache
            is per process and in memory (a few floats per clip), rebuilt on a resumed fit.
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
        genkd: GenKDOptions | None = None,
        cache_teacher_targets: bool = False,
    ) -> None:
        super().__init__(
            num_classes, backbone, pretrained, view, dropout, lr, weight_decay, warmup_fraction, class_names
        )
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha} (--model.init_args.alpha)")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature} (--model.init_args.temperature)")
        if isinstance(genkd, dict):  # as saved in a checkpoint's hyper_parameters
            genkd = GenKDOptions.from_saved(genkd)
        self.genkd_options = genkd
        # The slots a regime fills. `gate`: GenKD released's gate, part of the student (built with it, saved,
        # run at test/predict). `genkd`: GenKD's training-only modules, built in setup("fit") only, so never
        # part of a tested or predicted student; checkpoints keep them under TRAINING_ONLY_KEY.
        self.gate: StudentGate | None = None
        self.genkd: nn.Module | None = None
        self.regime: Regime = regime_for(self, genkd, cache_teacher_targets)
        self.automatic_optimization = self.regime.automatic_optimization

    # The frozen teacher is the regime's, during a fit only; these name it for callbacks and tests.
    @property
    def teacher(self) -> Backbone | None:
        return getattr(self.regime.teacher, "backbone", None)

    @property
    def teacher_view(self) -> str | None:
        return getattr(self.regime.teacher, "view", None)

    @property
    def teacher_features(self) -> nn.Module | None:
        """GenKD phase 1's attention head + CVAE of the teacher."""
        return getattr(self.regime.teacher, "features", None)

    @property
    def teacher_targets(self) -> dict | None:
        return self.regime.teacher_targets

    @property
    def input_views(self) -> set[str]:
        # During fit the teacher also runs on validation batches (agreement, KL); never outside fit.
        if self.teacher is not None and self.trainer.state.fn == "fit":
            return {self.hparams.view, self.teacher_view}
        return {self.hparams.view}

    def setup(self, stage: str) -> None:
        super().setup(stage)
        if stage == "fit":
            self.regime.setup_fit(self)

    def forward(self, video: Tensor) -> Tensor:
        return self.regime.forward(self, video)

    def on_fit_start(self) -> None:
        self.regime.on_fit_start(self)

    def on_train_epoch_start(self) -> None:
        self.regime.on_train_epoch_start(self)

    def training_step(self, batch: Batch | None, batch_idx: int) -> Tensor | None:
        return None if batch is None else self.regime.training_step(self, batch)

    def on_train_epoch_end(self) -> None:
        if self.regime.student_trained_in_epoch(self.current_epoch):
            super().on_train_epoch_end()

    def validation_step(self, batch: Batch | None, batch_idx: int) -> Predictions | None:
        if batch is None or self.teacher is None or self.trainer.state.fn != "fit":
            return super().validation_step(batch, batch_idx)
        # The student's logits of the shared evaluation are read on the way, not computed a second time.
        with captured_output(self.backbone) as student:
            outputs = super().validation_step(batch, batch_idx)
        teacher_logits, _ = self.regime.teacher(batch[self.teacher_view])
        student_probs = video_probabilities(student.output.logits, batch["num_views"])
        teacher_probs = video_probabilities(teacher_logits, batch["num_views"])
        agreement = (student_probs.argmax(dim=-1) == teacher_probs.argmax(dim=-1)).float().mean()
        # KL(teacher || student) of the per-video probabilities (views averaged, temperature 1).
        kl = F.kl_div(student_probs.clamp_min(1e-8).log(), teacher_probs, reduction="batchmean")
        self.log_dict({"val/agreement": agreement, "val/kl_teacher": kl},
                      batch_size=student_probs.shape[0], sync_dist=True)
        return outputs

    def configure_optimizers(self):
        return self.regime.configure_optimizers(self)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        super().on_save_checkpoint(checkpoint)
        self.regime.on_save_checkpoint(checkpoint)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        saved = self.regime.variant_switch(self, checkpoint)
        if saved is not None:  # the checkpoint's GenKD variant replaces the config's, with its own gate
            self.gate = None
            self.regime = regime_for(self, self.genkd_options, gate_hidden=saved.hidden)
        self.regime.on_load_checkpoint(self, checkpoint)
