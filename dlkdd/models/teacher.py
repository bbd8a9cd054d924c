"""TeacherModule (stage 1): a classifier on the enhanced view; `view: original` is the no-enhancement
baseline (and the student-alone baseline) from the same module."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from dlkdd.models.classifier import VideoClassifier, View


class TeacherModule(VideoClassifier):
    """Args: see VideoClassifier; plus label_smoothing of the cross-entropy."""

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
    ) -> None:
        super().__init__(
            num_classes, backbone, pretrained, view, dropout, lr, weight_decay, warmup_fraction, class_names
        )

    def training_losses(self, batch: dict) -> tuple[dict[str, Tensor], Tensor]:
        logits = self(batch[self.hparams.view])
        loss = F.cross_entropy(logits, batch["label"], label_smoothing=self.hparams.label_smoothing)
        return {"loss": loss}, logits


def load_teacher(path: str | Path, num_classes: int) -> TeacherModule:
    """Rebuild a TeacherModule from its checkpoint's saved hyperparameters (weights_only: no code runs)."""
    option = "--model.init_args.teacher_checkpoint"
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"Teacher checkpoint {path} not found ({option}). Train a teacher first, e.g. "
            "`dlkdd fit --config configs/synthetic/teacher.yaml`, and pass its best.ckpt."
        )
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
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
    hparams["pretrained"] = None  # the checkpoint already holds the trained weights
    teacher = TeacherModule(**hparams)
    teacher.load_state_dict(checkpoint["state_dict"])
    return teacher
