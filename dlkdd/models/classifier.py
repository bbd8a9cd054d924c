"""VideoClassifier: what teacher and student share (backbone, metrics, multi-view eval, predict, optim)."""

from __future__ import annotations

import math
from collections.abc import Callable

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics import MeanMetric

from dlkdd.backbones import Backbone, check_pretrained, create_backbone, load_pretrained
from dlkdd.callbacks.broken_videos import BrokenVideoMonitor
from dlkdd.callbacks.exact_resume import ExactResume
from dlkdd.callbacks.faults import NonFiniteLoss, WorkerDeathReport
from dlkdd.callbacks.required import required
from dlkdd.data.batch import Batch, Predictions, View
from dlkdd.data.sources import NO_LABEL
from dlkdd.data.views import video_probabilities
from dlkdd.models.metrics import accuracy_metrics


def warmup_cosine(total_steps: int, warmup_steps: int) -> Callable[[int], float]:
    """Learning-rate factor per step: linear warm-up, then cosine decay to zero at the last step.
    (torch's OneCycleLR divides by zero on runs of a few steps, which smoke tests and CI make.)"""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


class VideoClassifier(L.LightningModule):
    """Base of TeacherModule and DistillModule; not used on its own.

    Args:
        num_classes: linked from the data module.
        backbone: a name from dlkdd.backbones.list_backbones().
        pretrained: None, a published name ("kinetics400", "ig65m_32", "ig65m_8", "ig65m_kinetics_32",
            "ig65m_kinetics_8": downloaded into the torch hub cache) or a local checkpoint path. Loaded
            when a run starts without --ckpt_path (reading a config never needs the network).
        view: which view the network sees ("enhanced" or "original").
        dropout: dropout before the classification head.
        lr: peak learning rate of AdamW (linear warm-up, then cosine decay, stepped per batch).
        weight_decay: AdamW weight decay.
        warmup_fraction: fraction of the training steps spent warming up.
        class_names: linked from the data module; saved in the checkpoint so predictions carry names.
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
    ) -> None:
        super().__init__()
        self.save_hyperparameters()  # collects the subclass's arguments too
        check_pretrained(backbone, pretrained)  # a wrong name fails here; the weights load in setup()
        self.backbone = create_backbone(backbone, num_classes, dropout=dropout)
        self._pretrained_loaded = False
        self.train_metrics = accuracy_metrics(num_classes, class_names, "train")
        self.val_metrics = accuracy_metrics(num_classes, class_names, "val")
        self.test_metrics = accuracy_metrics(num_classes, class_names, "test")
        # Sums over videos synced at compute(): exact under DDP when processes hold unequal video counts
        # (a sync_dist mean of per-process means is not).
        self.val_loss = MeanMetric()
        self.test_loss = MeanMetric()

    @property
    def pretrained_backbones(self) -> list[Backbone]:
        """The backbones `pretrained` initialises (not a distillation teacher)."""
        return [self.backbone]

    def setup(self, stage: str) -> None:
        # Pretrained weights arrive when a run starts, not when its config is read (configs instantiate
        # offline), and not when --ckpt_path brings the weights anyway (test, predict, resume): no download.
        if self.hparams.pretrained and not self._pretrained_loaded and self.trainer.ckpt_path is None:
            for backbone in self.pretrained_backbones:
                load_pretrained(backbone, self.hparams.pretrained)
        self._pretrained_loaded = True

    @property
    def input_views(self) -> set[str]:
        """The views the data module must build for this module's current stage."""
        return {self.hparams.view}

    def forward(self, video: Tensor) -> Tensor:
        return self.backbone(video).logits

    def batch_logits(self, batch: Batch) -> Tensor:
        """Logits for a batch of views (the two-stream model overrides it to read both views)."""
        return self(batch[self.hparams.view])

    def training_losses(self, batch: Batch) -> tuple[dict[str, Tensor], Tensor]:
        """Named loss terms (with the total under "loss") and the logits. Subclasses define it."""
        raise NotImplementedError

    def training_step(self, batch: Batch | None, batch_idx: int) -> Tensor | None:
        if batch is None:
            return None
        losses, logits = self.training_losses(batch)
        self.log_training_step(losses, logits, batch["label"])
        return losses["loss"]

    def log_training_step(self, terms: dict[str, Tensor | float], logits: Tensor, label: Tensor) -> None:
        """Logs the step's named terms as train/<name> and scores its logits (manual-optimization steps
        call it too)."""
        self.log_dict({f"train/{name}": value for name, value in terms.items()}, batch_size=logits.shape[0],
                      prog_bar=True)
        self.train_metrics.update(logits.detach().softmax(dim=-1), label)

    def _evaluate(self, batch: Batch | None, stage: str) -> Predictions | None:
        """Updates the stage's loss and metrics with the labeled videos; returns every video's
        probabilities (for callbacks: the test report)."""
        if batch is None:
            return None
        probs = video_probabilities(self.batch_logits(batch), batch["num_views"])
        labeled = batch["label"] != NO_LABEL  # unlabeled videos (dataset=videos) are predicted, not scored
        if labeled.any():
            probs_known, labels = probs[labeled], batch["label"][labeled]
            loss = F.nll_loss(probs_known.clamp_min(1e-8).log(), labels)
            loss_metric = getattr(self, f"{stage}_loss")
            loss_metric.update(loss, weight=labels.shape[0])
            self.log(f"{stage}/loss", loss_metric, batch_size=labels.shape[0])
            self._metrics(stage).update(probs_known, labels)
        return {"index": batch["index"], "probs": probs.detach(), "label": batch["label"]}

    def validation_step(self, batch: Batch | None, batch_idx: int) -> Predictions | None:
        return self._evaluate(batch, "val")

    def test_step(self, batch: Batch | None, batch_idx: int) -> Predictions | None:
        return self._evaluate(batch, "test")

    def predict_step(self, batch: Batch | None, batch_idx: int) -> Predictions | None:
        if batch is None:
            return None
        probs = video_probabilities(self.batch_logits(batch), batch["num_views"])
        return {"index": batch["index"], "probs": probs, "label": batch["label"]}

    def _metrics(self, stage: str):
        return getattr(self, f"{stage}_metrics")

    def _log_epoch_metrics(self, stage: str) -> None:
        # compute() syncs across processes under DDP; logged once per epoch.
        self.log_dict(self._metrics(stage).compute(), prog_bar=False)
        self._metrics(stage).reset()

    def on_train_epoch_end(self) -> None:
        self._log_epoch_metrics("train")

    def on_validation_epoch_end(self) -> None:
        self._log_epoch_metrics("val")

    def on_test_epoch_end(self) -> None:
        self._log_epoch_metrics("test")

    def configure_optimizers(self):
        return self.adamw_with_schedule([p for p in self.parameters() if p.requires_grad])

    def adamw_with_schedule(self, params: list[torch.nn.Parameter]) -> dict:
        """AdamW over `params` with the module's lr and weight decay, its learning rate warmed up then
        decayed (warmup_cosine) per batch."""
        optimizer = torch.optim.AdamW(params, lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        schedule = warmup_cosine(total, warmup_steps=round(self.hparams.warmup_fraction * total))
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def configure_callbacks(self) -> list[L.Callback]:
        # The callbacks no run is correct without (the rule: dlkdd.callbacks); one of the same kind in the
        # trainer's callbacks (e.g. NonFiniteLoss with action: skip) is kept instead.
        return required(self._trainer, ExactResume(), NonFiniteLoss(), WorkerDeathReport(),
                        BrokenVideoMonitor())

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # Which module wrote the file, so a teacher checkpoint can be told from a student's.
        checkpoint["dlkdd"] = {"module": type(self).__name__}
