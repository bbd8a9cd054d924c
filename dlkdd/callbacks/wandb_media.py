"""What the dashboard shows beyond scalars: paired clips at validation, a confusion matrix and a table of
test predictions. Both callbacks do nothing unless the trainer logs to W&B."""

from __future__ import annotations

import tempfile
from pathlib import Path

import lightning as L
import torch
import wandb
from lightning.pytorch.loggers import WandbLogger
from torch import Tensor

from dlkdd.data.batch import Batch
from dlkdd.data.views import video_probabilities
from dlkdd.video import write_video


def _wandb(trainer) -> WandbLogger | None:
    return next((lg for lg in trainer.loggers if isinstance(lg, WandbLogger)), None)


def class_name(names: list[str] | None, index: int) -> str:
    return names[index] if names and 0 <= index < len(names) else str(index)


@torch.no_grad()
def batch_probabilities(pl_module, batch: Batch) -> Tensor:
    """Per-video probabilities of an evaluation batch, as the module's own eval step computes them."""
    return video_probabilities(pl_module.batch_logits(batch), batch["num_views"])


def side_by_side_uint8(original: Tensor, enhanced: Tensor, min_height: int = 112) -> Tensor:
    """(C,T,H,W) float views in [0,1] -> uint8 (T,H',2W',3): original | enhanced, upscaled so small
    training crops stay visible in the dashboard (nearest: the pixels are what the network saw)."""
    pair = torch.cat([original, enhanced], dim=-1).clamp(0, 1)
    scale = max(1, -(-min_height // pair.shape[-2]))
    pair = pair.repeat_interleave(scale, dim=-2).repeat_interleave(scale, dim=-1)
    frames = (pair * 255).round().to(torch.uint8).permute(1, 2, 3, 0)
    return frames[:, : frames.shape[1] // 2 * 2, : frames.shape[2] // 2 * 2]  # H.264 wants even sizes


class PairedClipsToWandb(L.Callback):
    """At each validation epoch, `num_clips` videos as W&B videos, the dark original beside its enhanced
    view, captioned with the label and the model's (and a distillation teacher's) prediction: what the
    teacher saw and what the student missed. The first video of evenly spaced validation batches, so
    the clips span the classes of a class-ordered split and are the same videos every epoch."""

    def __init__(self, num_clips: int = 4, fps: int = 8) -> None:
        self.num_clips = num_clips
        self.fps = fps
        self.clips: list[tuple[Tensor, Tensor, str]] = []

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        self.clips = []

    def _wanted(self, trainer, batch_idx: int) -> bool:
        num_batches = trainer.num_val_batches[0] if trainer.num_val_batches else 0
        spaced = {num_batches * i // self.num_clips for i in range(self.num_clips)}
        return batch_idx in spaced

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        if (_wandb(trainer) is None or trainer.sanity_checking or dataloader_idx != 0 or batch is None
                or not self._wanted(trainer, batch_idx)):
            return
        views = batch["num_views"]
        # The first video's views: its first clip (and crop) is the one shown.
        sub = {k: v[:views] for k, v in batch.items() if k in ("original", "enhanced")}
        sub["num_views"] = views
        if "enhanced" not in sub:
            enhancer = trainer.datamodule.views.enhancer.to(sub["original"].device)
            sub["enhanced"] = enhancer(sub["original"])
        names = pl_module.hparams.get("class_names")
        probs = batch_probabilities(pl_module, sub)[0]
        teacher = getattr(pl_module, "teacher", None)
        caption = (f"label {class_name(names, int(batch['label'][0]))} | {'student' if teacher else 'model'} "
                   f"{class_name(names, int(probs.argmax()))} {float(probs.max()):.2f}")
        if teacher is not None:
            logits = teacher(sub[getattr(pl_module, "teacher_view", "enhanced")]).logits
            teacher_probs = video_probabilities(logits, views)[0]
            caption += (f" | teacher {class_name(names, int(teacher_probs.argmax()))} "
                        f"{float(teacher_probs.max()):.2f}")
        caption += " (original | enhanced)"
        self.clips.append((sub["original"][0].cpu(), sub["enhanced"][0].cpu(), caption))

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        logger = _wandb(trainer)
        if logger is None or not self.clips:
            return
        # wandb.Video would need moviepy to encode arrays; PyAV (already needed to decode) writes the mp4.
        # W&B copies each file into the run when it is logged, so the folder can go right after.
        with tempfile.TemporaryDirectory(prefix="dlkdd-clips-") as folder:
            paths = []
            for i, (original, enhanced, _) in enumerate(self.clips):
                paths.append(str(Path(folder) / f"clip{i}.mp4"))
                write_video(paths[-1], side_by_side_uint8(original, enhanced).numpy(), self.fps)
            logger.log_video("val/clips", paths, step=trainer.global_step,
                             caption=[caption for *_, caption in self.clips], format=["mp4"] * len(paths))
        self.clips = []


class TestReportToWandb(L.Callback):
    """At the end of a test: a confusion matrix and a table of every test video's prediction."""

    def on_test_epoch_start(self, trainer, pl_module) -> None:
        self.rows: list[tuple[int, int, Tensor]] = []

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        # `outputs`: the test_step's per-video probabilities (None when the whole batch was unreadable).
        if _wandb(trainer) is None or outputs is None:
            return
        for index, label, p in zip(outputs["index"].tolist(), outputs["label"].tolist(),
                                   outputs["probs"].float().cpu(), strict=True):
            if label >= 0:  # unlabeled videos (dataset=videos) have no place in a confusion matrix
                self.rows.append((index, label, p))

    def on_test_epoch_end(self, trainer, pl_module) -> None:
        logger = _wandb(trainer)
        if logger is None or not self.rows:
            return
        names = pl_module.hparams.get("class_names") or [str(k) for k in range(pl_module.hparams.num_classes)]
        items = trainer.test_dataloaders.dataset.items
        table = wandb.Table(columns=["path", "label", "prediction", "probability", "correct"])
        labels, predictions = [], []
        for index, label, p in sorted(self.rows, key=lambda row: row[0]):
            predicted = int(p.argmax())
            table.add_data(str(items[index].path), names[label], names[predicted], float(p[predicted]),
                           predicted == label)
            labels.append(label)
            predictions.append(predicted)
        matrix = wandb.plot.confusion_matrix(y_true=labels, preds=predictions, class_names=list(names),
                                             title="Test confusion matrix")
        logger.experiment.log({"test/predictions": table, "test/confusion_matrix": matrix,
                               "trainer/global_step": trainer.global_step})
