"""TwoStreamModule: the DarkLight-style reference point that distillation is measured against.

One backbone per view (original, enhanced), fused by averaging their logits. It pays for two backbone
passes (and the enhancer) at inference; the distilled student pays for one. The accuracy study and the
inference-cost benchmark put the two side by side.

The streams do not share weights: with one shared, BatchNorm'd tiny3d over a batch mixing dark and
bright clips, the brightness gap swamped the batch statistics and the model stayed at chance on the
generated data (best val top-1 0.15 in 25 epochs, seed 0), while each view alone learns.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from dlkdd.backbones import create_backbone
from dlkdd.data.batch import Batch
from dlkdd.models.classifier import VideoClassifier


class TwoStreamModule(VideoClassifier):
    """Args: see VideoClassifier (there is no `view`: both views are always used); plus label_smoothing."""

    def __init__(
        self,
        num_classes: int,
        backbone: str = "tiny3d",
        pretrained: str | None = None,
        dropout: float = 0.0,
        lr: float = 1e-3,
        weight_decay: float = 0.05,
        warmup_fraction: float = 0.1,
        class_names: list[str] | None = None,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(
            num_classes, backbone, pretrained, "original", dropout, lr, weight_decay, warmup_fraction,
            class_names,
        )
        self.enhanced_backbone = create_backbone(backbone, num_classes, dropout=dropout)

    @property
    def pretrained_backbones(self) -> list:
        return [self.backbone, self.enhanced_backbone]

    @property
    def input_views(self) -> set[str]:
        return {"original", "enhanced"}

    def forward(self, original: Tensor, enhanced: Tensor) -> Tensor:
        return (self.backbone(original).logits + self.enhanced_backbone(enhanced).logits) / 2

    def batch_logits(self, batch: Batch) -> Tensor:
        return self(batch["original"], batch["enhanced"])

    def training_losses(self, batch: Batch) -> tuple[dict[str, Tensor], Tensor]:
        logits = self.batch_logits(batch)
        loss = F.cross_entropy(logits, batch["label"], label_smoothing=self.hparams.label_smoothing)
        return {"loss": loss}, logits
