"""TeacherModule (stage 1): a classifier on the enhanced view; `view: original` is the no-enhancement
baseline (and the student-alone baseline) from the same module. With `feature_model` set it runs GenKD's
phase 1 instead: the (pretrained, frozen) teacher stays as it is and only the feature model learns. The
released GenKD code ships no phase-1 training (only the trained teacher's gate and CVAE as files), so this
phase is dlkdd's own: the gate learns through a linear classifier on the gated, pooled map, and the CVAE
models the map given the (detached) gate with the released CVAE loss (MSE + 0.1 KL)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from dlkdd.backbones.features import (
    captured_output,
    forward_with_features,
    stage_channels,
    stage_name,
    to_bcthw,
)
from dlkdd.checkpointing import read_checkpoint
from dlkdd.data.batch import Batch, Predictions, View
from dlkdd.data.sources import NO_LABEL
from dlkdd.models.classifier import VideoClassifier
from dlkdd.models.genkd import FeatureModel, FeatureModelOptions


class TeacherModule(VideoClassifier):
    """Args: see VideoClassifier; plus

    label_smoothing: of the cross-entropy.
    feature_model: GenKD phase 1. When set, the backbone (load the trained teacher with `pretrained`) is
        frozen and run in eval mode, and an attention head + conditional VAE learn its feature map; they are
        saved in this module's checkpoint, which DistillModule's GenKD mode then reads as its teacher.
    """

    def __init__(
        self,
        num_classes: int,
        backbone: str = "tiny3d",
        pretrained: str | None = None,
        view: View = "enhanced",
        dropout: float = 0.0,
        lr: float = 1e-3,
        weight_decay: float = 0.05,
        warmup_fraction: float = 0.1,
        class_names: list[str] | None = None,
        label_smoothing: float = 0.0,
        feature_model: FeatureModelOptions | None = None,
    ) -> None:
        super().__init__(
            num_classes, backbone, pretrained, view, dropout, lr, weight_decay, warmup_fraction, class_names
        )
        if isinstance(feature_model, dict):  # as saved in a checkpoint's hyper_parameters
            feature_model = FeatureModelOptions(**feature_model)
        self.feature_options = feature_model
        self.feature_model: FeatureModel | None = None
        if feature_model is not None:
            # Plain types only in hyper_parameters: checkpoints must load with weights_only=True.
            self.hparams["feature_model"] = asdict(feature_model)
            self.feature_stage = stage_name(self.backbone, feature_model.stage,
                                            "--model.init_args.feature_model.stage")
            channels = stage_channels(self.backbone, self.feature_stage)
            self.feature_model = FeatureModel(channels, num_classes, feature_model.hidden)
            self.backbone.requires_grad_(False)

    def setup(self, stage: str) -> None:
        super().setup(stage)
        if stage == "fit" and self.feature_model is not None and self.hparams.pretrained is None:
            raise ValueError(
                "GenKD phase 1 (--model.init_args.feature_model) models a TRAINED teacher, but "
                "--model.init_args.pretrained is not set, so the backbone is random. Pass the teacher's "
                "checkpoint, e.g. --model.init_args.pretrained runs/synthetic/teacher/checkpoints/best.ckpt."
            )

    def training_losses(self, batch: Batch) -> tuple[dict[str, Tensor], Tensor]:
        video = batch[self.hparams.view]
        if self.feature_model is None:
            logits = self(video)
            loss = F.cross_entropy(logits, batch["label"], label_smoothing=self.hparams.label_smoothing)
            return {"loss": loss}, logits
        # Phase 1 models the trained teacher as it runs at inference: eval mode keeps its BatchNorm statistics
        # (set here, per step, because Lightning restores every submodule's mode around validation).
        with torch.no_grad():
            output, feature_map = forward_with_features(self.backbone.eval(), video, self.feature_stage)
        losses = self.feature_model.losses(feature_map, batch["label"], self.feature_options.kl_weight)
        return losses, output.logits

    def validation_step(self, batch: Batch | None, batch_idx: int) -> Predictions | None:
        if batch is None or self.feature_model is None:
            return super().validation_step(batch, batch_idx)
        # The feature map of the evaluation forward is read on the way, not computed a second time.
        with captured_output(self.backbone.get_submodule(self.feature_stage)) as stage_output:
            outputs = super().validation_step(batch, batch_idx)
        feature_map = to_bcthw(stage_output.output, self.backbone.spec, self.feature_stage)
        labels = batch["label"].repeat_interleave(batch["num_views"])
        labeled = labels != NO_LABEL
        if not labeled.any():
            return outputs
        labels = labels[labeled]
        losses = self.feature_model.losses(feature_map[labeled], labels, self.feature_options.kl_weight)
        self.log_dict({f"val/{name}": value for name, value in losses.items() if name != "loss"},
                      batch_size=labels.shape[0], sync_dist=True)
        return outputs


def load_teacher(path: str | Path, num_classes: int, class_names: list[str] | None = None) -> TeacherModule:
    """Rebuild a TeacherModule from its checkpoint's saved hyperparameters (weights_only: no code runs).

    The teacher must share the data's label space: the same number of classes and, when both sides name
    them, the same class names in the same order (soft targets are compared index by index)."""
    option = "--model.init_args.teacher_checkpoint"
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"Teacher checkpoint {path} not found ({option}). Train a teacher first, e.g. "
            "`dlkdd fit --config configs/synthetic/teacher.yaml`, and pass its best.ckpt."
        )
    checkpoint = read_checkpoint(path)  # weights_only: a file carrying code is refused, by name
    written_by = checkpoint.get("dlkdd", {}).get("module")
    if written_by != "TeacherModule":
        raise ValueError(
            f"{path} was written by {written_by or 'something other than dlkdd'}, not TeacherModule "
            f"({option}). Pass the checkpoint of a `dlkdd fit` run with model TeacherModule."
        )
    # LightningCLI adds private keys (`_class_path`, `_instantiator`) that are not init arguments.
    hparams = {k: v for k, v in checkpoint["hyper_parameters"].items() if not k.startswith("_")}
    if hparams["num_classes"] != num_classes:
        raise ValueError(
            f"Teacher {path} predicts {hparams['num_classes']} classes but the data has {num_classes} "
            f"({option}). Use a teacher trained on the same dataset (--data.dataset/--data.root)."
        )
    teacher_names = hparams.get("class_names")
    if class_names and teacher_names and list(teacher_names) != list(class_names):
        differ = [i for i, (a, b) in enumerate(zip(teacher_names, class_names, strict=True)) if a != b]
        raise ValueError(
            f"Teacher {path} ({option}) was trained on other classes than the data's: at index {differ[0]} "
            f"the teacher has {teacher_names[differ[0]]!r} where the data has {class_names[differ[0]]!r} "
            f"({len(differ)} of {num_classes} positions differ), so its soft targets would teach the wrong "
            "labels. Pass a teacher trained on the same dataset and class list (--data.dataset/--data.root), "
            "or retrain one with `dlkdd fit --config <dataset>/teacher.yaml` on this data."
        )
    hparams["pretrained"] = None  # the checkpoint already holds the trained weights
    teacher = TeacherModule(**hparams)
    teacher.load_state_dict(checkpoint["state_dict"])
    return teacher
