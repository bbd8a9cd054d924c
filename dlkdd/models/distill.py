"""DistillModule (stage 2): a student on the original dark view, taught by a frozen teacher that sees
the enhanced view. At inference the student runs alone: the teacher is never part of its checkpoint. With
GenKD as released the student includes its gate (in its state_dict and forward); what else GenKD trains
beside the student (CVAE, adapters; the mimic variant's attention head) stays out of it."""

from __future__ import annotations

from dataclasses import asdict

import torch
import torch.nn.functional as F
from torch import Tensor

from dlkdd.backbones.features import captured_output, forward_with_features, stage_channels, stage_name
from dlkdd.models.classifier import VideoClassifier, View, video_probabilities
from dlkdd.models.genkd import (
    GenKDOptions,
    ReleasedStudentSide,
    StudentFeatureModel,
    StudentGate,
    check_gateable,
    cvae_loss,
    distillation_losses,
    gate_inserted,
    released_cvae_terms,
    released_student_terms,
)
from dlkdd.models.losses import soft_target_kd
from dlkdd.models.teacher import load_teacher

# Checkpoint key of the GenKD training-only weights: kept for a resumed fit, out of the student's state_dict.
TRAINING_ONLY_KEY = "dlkdd_training_only"
_TRAINING_ONLY_PREFIX = "genkd."


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
        # Training-only GenKD modules, built in setup("fit") only: not part of a tested/predicted student.
        self.genkd: StudentFeatureModel | ReleasedStudentSide | None = None
        # The released variant's gate: part of the student, so built here, saved and run at test/predict.
        self.gate: StudentGate | None = None
        if genkd is not None:
            self.hparams["genkd"] = asdict(genkd)  # plain types: checkpoints load with weights_only=True
            self.student_stage = stage_name(self.backbone, genkd.student_stage,
                                            "--model.init_args.genkd.student_stage")
            self.automatic_optimization = False
            if genkd.variant == "released":
                self.gate = self._released_gate(genkd.hidden)
        # Kept out of nn.Module registration on purpose: not in state_dict (student checkpoints stay
        # student-only), not moved by .train(), not wrapped by DDP, not touched by the optimizer.
        self.__dict__["teacher"] = None
        self.__dict__["teacher_view"] = None
        self.__dict__["teacher_features"] = None  # GenKD phase 1: attention head + CVAE of the teacher
        self.__dict__["teacher_stage"] = None
        if cache_teacher_targets and genkd is not None:
            raise ValueError(
                "--model.init_args.cache_teacher_targets caches the teacher's logits only; GenKD "
                "(--model.init_args.genkd) needs its feature maps every step: use one or the other"
            )
        # (video index, clip start) -> the teacher's logits for that clip, on the training device.
        self.__dict__["teacher_targets"] = {} if cache_teacher_targets else None

    def setup(self, stage: str) -> None:
        super().setup(stage)
        if stage != "fit" or self.teacher is not None:
            return
        hp = self.hparams
        teacher = load_teacher(hp.teacher_checkpoint, hp.num_classes, hp.class_names)
        self.__dict__["teacher"] = teacher.backbone.eval().requires_grad_(False)
        self.__dict__["teacher_view"] = teacher.hparams.view
        if self.genkd_options is None:
            return
        if teacher.feature_model is None:
            raise ValueError(
                f"Teacher {self.hparams.teacher_checkpoint} (--model.init_args.teacher_checkpoint) has no "
                "GenKD feature model, which --model.init_args.genkd needs. Run phase 1 on it first, e.g. "
                "`dlkdd fit --config configs/synthetic/teacher_genkd.yaml`, and pass that run's best.ckpt."
            )
        self.__dict__["teacher_features"] = teacher.feature_model.eval().requires_grad_(False)
        self.__dict__["teacher_stage"] = teacher.feature_stage
        # setup runs before the move to the device and before configure_optimizers: both see these modules.
        student_channels = stage_channels(self.backbone, self.student_stage)
        if self.gate is None:
            self.genkd = StudentFeatureModel(student_channels, teacher.feature_model)
        else:  # fresh, as released (the mimic variant copies the teacher's)
            teacher_channels = teacher.feature_model.gate_classifier.in_features
            self.genkd = ReleasedStudentSide(student_channels, teacher_channels, self.genkd_options.hidden)

    def forward(self, video: Tensor) -> Tensor:
        if self.gate is None:
            return super().forward(video)
        return self.gated_forward(video)[0].logits

    def gated_forward(self, video: Tensor):
        """The gated student's (output, ungated stage map (B, C, T, H, W), gate logits (B, C, T))."""
        stage = self.backbone.get_submodule(self.student_stage)
        with gate_inserted(stage, self.stage_layout, self.gate) as recorded:
            output = self.backbone(video)
        return output, recorded["map"], recorded["logits"]

    def is_cvae_epoch(self) -> bool:
        """Released variant: Lightning epochs 0, 2, 4, ... are the released code's CVAE epochs."""
        return self.current_epoch % 2 == 0

    def on_train_epoch_start(self) -> None:
        if self.gate is not None and self.genkd is not None:
            # Each side is frozen during the other's epoch, as released (no gradients pile up on it).
            self.genkd.cvae.requires_grad_(self.is_cvae_epoch())

    def on_fit_start(self) -> None:
        if self.teacher_targets is not None:
            self._check_views_are_fixed()
        self.teacher.to(self.device)
        if self.device.type == "cuda":
            self.teacher.to(memory_format=torch.channels_last_3d)
        if self.teacher_features is not None:
            self.teacher_features.to(self.device)

    @property
    def input_views(self) -> set[str]:
        # During fit the teacher also runs on validation batches (agreement, KL); never outside fit.
        if self.teacher is not None and self.trainer.state.fn == "fit":
            return {self.hparams.view, self.teacher_view}
        return {self.hparams.view}

    def teacher_forward(self, video: Tensor, features: bool = False) -> tuple[Tensor, Tensor | None]:
        """Teacher logits (and, with `features`, its phase-1 stage's feature map) as float32 tensors.

        The teacher runs under inference_mode (no autograd state at all) and, on CUDA, in channels_last_3d
        with bf16 autocast; inference tensors cannot be saved for backward, so what the losses use is copied
        out (logits and one late feature map: small next to the forward itself)."""
        cuda = video.device.type == "cuda"
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
            if cuda:
                video = video.contiguous(memory_format=torch.channels_last_3d)
            if features:
                output, feature_map = forward_with_features(self.teacher, video, self.teacher_stage)
            else:
                output, feature_map = self.teacher(video), None
        logits = output.logits.to(torch.float32, copy=True)
        return logits, None if feature_map is None else feature_map.to(torch.float32, copy=True)

    def _check_views_are_fixed(self) -> None:
        # DarkVideoDataModule says whether its views are fixed; with other loaders that is the user's call.
        if getattr(self.trainer.datamodule, "hparams", {}).get("augment", False):
            raise ValueError(
                "--model.init_args.cache_teacher_targets needs a training view that is the same every "
                "time a clip is drawn, or the cached targets would describe another view: set "
                "--data.augment false (training clips then take the centre crop), or drop the cache"
            )

    def teacher_targets_for(self, batch: dict) -> Tensor:
        """The teacher's logits for the batch: from the cache for clips seen before (no forward at
        all once every clip has been seen), from a forward on the rest."""
        video = batch[self.teacher_view]
        if self.teacher_targets is None:
            return self.teacher_forward(video)[0]
        if "start" not in batch:
            raise ValueError("cache_teacher_targets needs training batches with 'index' and 'start' "
                             "(DarkVideoDataModule's) to know which clip is which")
        keys = list(zip(batch["index"].tolist(), batch["start"].tolist(), strict=True))
        unseen = [i for i, key in enumerate(keys) if key not in self.teacher_targets]
        if unseen:
            logits, _ = self.teacher_forward(video[unseen])
            self.teacher_targets.update((keys[i], row) for i, row in zip(unseen, logits, strict=True))
        self.log("train/teacher_cache_hits", 1.0 - len(unseen) / len(keys), batch_size=len(keys))
        return torch.stack([self.teacher_targets[key] for key in keys])

    def logit_losses(self, logits: Tensor, teacher_logits: Tensor, label: Tensor) -> dict[str, Tensor]:
        ce = F.cross_entropy(logits, label)
        kd = soft_target_kd(logits, teacher_logits, self.hparams.temperature)
        alpha = self.hparams.alpha
        return {"loss": alpha * ce + (1 - alpha) * kd, "loss_ce": ce, "loss_kd": kd}

    def training_losses(self, batch: dict) -> tuple[dict[str, Tensor], Tensor]:
        # Teacher first: run between the student's forward and backward, it evicts the student's saved
        # activations from the CPU caches (measured: 35 ms a step instead of 30 for tiny3d, batch 8).
        teacher_logits = self.teacher_targets_for(batch)
        logits = self(batch[self.hparams.view])
        return self.logit_losses(logits, teacher_logits, batch["label"]), logits

    def training_step(self, batch: dict | None, batch_idx: int) -> Tensor | None:
        if self.genkd is None or batch is None:
            return super().training_step(batch, batch_idx)
        if self.gate is not None:
            step = self.released_cvae_step if self.is_cvae_epoch() else self.released_student_step
            return step(batch)
        options = self.genkd_options
        student_optimizer, cvae_optimizer = self.optimizers()
        teacher_logits, teacher_map = self.teacher_forward(batch[self.teacher_view], features=True)
        video = batch[self.hparams.view]
        output, student_map = forward_with_features(self.backbone, video, self.student_stage)
        adapted = self.genkd.adapt(student_map, teacher_map)
        student_gate = self.genkd.attention(adapted)

        # The student's CVAE first learns the student's current features (detached: its own step) ...
        cvae_terms = cvae_loss(self.genkd.cvae, adapted.detach(), student_gate.detach(), options.kl_weight)
        cvae_optimizer.zero_grad()
        self.manual_backward(cvae_terms["loss_cvae"])
        cvae_optimizer.step()

        # ... then the student steps on the logit and feature terms, through the updated CVAE.
        losses = self.logit_losses(output.logits, teacher_logits, batch["label"])
        feature_terms = distillation_losses(
            adapted, student_gate, teacher_map, self.genkd, self.teacher_features
        )
        rec_weight = options.reconstruction_weight_at(self.current_epoch)
        losses["loss"] = (
            losses["loss"]
            + options.generative_weight * feature_terms["loss_gen"]
            + options.attention_weight * feature_terms["loss_att"]
            + rec_weight * feature_terms["loss_rec"]
        )
        student_optimizer.zero_grad()
        self.manual_backward(losses["loss"])
        student_optimizer.step()
        self.lr_schedulers().step()  # per batch, as the automatic mode's "interval: step"

        logged = {**losses, **feature_terms, **cvae_terms, "rec_weight": rec_weight}
        self.log_dict({f"train/{name}": value for name, value in logged.items()},
                      batch_size=output.logits.shape[0], prog_bar=True)
        self.train_metrics.update(output.logits.detach().softmax(dim=-1), batch["label"])
        return None

    def on_train_epoch_end(self) -> None:
        if self.gate is not None and self.genkd is not None and self.is_cvae_epoch():
            return  # the student did not learn (nor was it scored) in a CVAE epoch
        super().on_train_epoch_end()

    def released_cvae_step(self, batch: dict) -> None:
        """train_Top_I3D_KD.py stage 1: only the student's CVAE learns; the student runs (in train mode, as
        released, so its BatchNorm statistics move) without gradients."""
        options = self.genkd_options
        _, cvae_optimizer = self.optimizers()
        video = batch[self.hparams.view]
        with torch.no_grad():
            _, student_map, gate_logits = self.gated_forward(video)
            feature_map, gate = self.genkd.adapt(student_map, gate_logits)
        terms = released_cvae_terms(self.genkd.cvae, self.teacher_features.cvae, feature_map, gate,
                                    options.kl_weight)
        loss = terms["loss_cvae"] + options.generative_weight * terms["loss_gen"]
        cvae_optimizer.zero_grad()
        self.manual_backward(loss)
        cvae_optimizer.step()
        logged = {"loss_cvae_epoch": loss, **terms}
        self.log_dict({f"train/{name}": value for name, value in logged.items()},
                      batch_size=video.shape[0], prog_bar=True)

    def released_student_step(self, batch: dict) -> None:
        """train_Top_I3D_KD.py stage 2: the gated student learns on its logit loss, the ramped prior
        reconstruction of its own map and the attention term; the student's CVAE is frozen."""
        options = self.genkd_options
        student_optimizer, _ = self.optimizers()
        teacher_logits, teacher_map = self.teacher_forward(batch[self.teacher_view], features=True)
        with torch.no_grad():
            teacher_gate = self.teacher_features.attention(teacher_map)
        output, student_map, gate_logits = self.gated_forward(batch[self.hparams.view])
        feature_map, gate = self.genkd.adapt(student_map, gate_logits)
        losses = self.logit_losses(output.logits, teacher_logits, batch["label"])
        terms = released_student_terms(self.genkd.cvae, feature_map, gate, teacher_gate)
        # Released epochs count from 1 and hold one CVAE and one student Lightning epoch each.
        rec_weight = options.reconstruction_weight_at(self.current_epoch // 2 + 1)
        losses["loss"] = (
            losses["loss"] + rec_weight * terms["loss_rec"] + options.attention_weight * terms["loss_att"]
        )
        student_optimizer.zero_grad()
        self.manual_backward(losses["loss"])
        student_optimizer.step()
        logged = {**losses, **terms, "rec_weight": rec_weight}
        self.log_dict({f"train/{name}": value for name, value in logged.items()},
                      batch_size=output.logits.shape[0], prog_bar=True)
        self.train_metrics.update(output.logits.detach().softmax(dim=-1), batch["label"])

    def validation_step(self, batch: dict | None, batch_idx: int) -> dict | None:
        if batch is None or self.teacher is None or self.trainer.state.fn != "fit":
            return super().validation_step(batch, batch_idx)
        # The student's logits of the shared evaluation are read on the way, not computed a second time.
        with captured_output(self.backbone) as student:
            outputs = super().validation_step(batch, batch_idx)
        teacher_logits, _ = self.teacher_forward(batch[self.teacher_view])
        student_probs = video_probabilities(student.output.logits, batch["num_views"])
        teacher_probs = video_probabilities(teacher_logits, batch["num_views"])
        agreement = (student_probs.argmax(dim=-1) == teacher_probs.argmax(dim=-1)).float().mean()
        # KL(teacher || student) of the per-video probabilities (views averaged, temperature 1).
        kl = F.kl_div(student_probs.clamp_min(1e-8).log(), teacher_probs, reduction="batchmean")
        self.log_dict({"val/agreement": agreement, "val/kl_teacher": kl},
                      batch_size=student_probs.shape[0], sync_dist=True)
        return outputs

    def configure_optimizers(self):
        if self.genkd is None:
            return super().configure_optimizers()
        options = self.genkd_options
        if self.gate is not None:  # as released: SGD for the student (gate, adapters), Adam for its CVAE
            student_params = [p for name, p in self.named_parameters()
                              if p.requires_grad and not name.startswith("genkd.cvae.")]
            student = torch.optim.SGD(student_params, lr=options.student_lr,
                                      momentum=options.student_momentum,
                                      weight_decay=options.student_weight_decay)
            cvae = torch.optim.Adam(self.genkd.cvae.parameters(), lr=options.cvae_lr,
                                    betas=options.cvae_betas)
            return [student, cvae]
        # The student side (backbone, adapter, attention head) gets the usual AdamW and per-step schedule;
        # the student's CVAE has an optimizer of its own and steps on its own loss.
        self.genkd.cvae.requires_grad_(False)
        student = super().configure_optimizers()
        self.genkd.cvae.requires_grad_(True)
        cvae_optimizer = torch.optim.AdamW(
            self.genkd.cvae.parameters(), lr=self.genkd_options.cvae_lr,
            weight_decay=self.hparams.weight_decay,
        )
        return [student["optimizer"], cvae_optimizer], [student["lr_scheduler"]]

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        super().on_save_checkpoint(checkpoint)
        state = checkpoint["state_dict"]
        training_only = [key for key in state if key.startswith(_TRAINING_ONLY_PREFIX)]
        checkpoint[TRAINING_ONLY_KEY] = {key: state.pop(key) for key in training_only}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        saved = checkpoint.get("hyper_parameters", {}).get("genkd")
        if saved is not None and self.genkd_options is not None:
            self._take_variant_of(GenKDOptions.from_saved(saved))
        # A resumed fit (setup built the GenKD modules) gets them back; test/predict load the student alone.
        if self.genkd is not None:
            checkpoint["state_dict"].update(checkpoint.get(TRAINING_ONLY_KEY, {}))

    def _take_variant_of(self, saved: GenKDOptions) -> None:
        """The checkpoint's variant decides whether the student has a gate. LightningCLI merges a checkpoint's
        hyperparameters into the config's, so a checkpoint written before the variants (no `variant`: mimic)
        would otherwise meet the config's `released` and a gate it never had."""
        if saved.variant == self.genkd_options.variant:
            return
        if self.genkd is not None:  # a resumed fit: its training-only modules are the other variant's
            raise ValueError(
                f"The checkpoint was written by GenKD variant {saved.variant!r}, the config asks for "
                f"{self.genkd_options.variant!r}: resume with --model.init_args.genkd.variant {saved.variant}"
            )
        self.genkd_options.variant = saved.variant
        self.hparams["genkd"] = asdict(self.genkd_options)
        self.gate = self._released_gate(saved.hidden) if saved.variant == "released" else None

    def _released_gate(self, hidden: int) -> StudentGate:
        spec = self.backbone.spec
        self.stage_layout = spec.feature_layout if self.student_stage == spec.last_stage else "BCTHW"
        check_gateable(self.stage_layout, self.student_stage)
        return StudentGate(stage_channels(self.backbone, self.student_stage), hidden)
