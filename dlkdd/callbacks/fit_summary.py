"""The last thing a fit prints: the epoch kept, how it did on validation, where it is, and the W&B run."""

from __future__ import annotations

import math
from pathlib import Path

from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.loggers import WandbLogger

# The validation figures worth a line, in this order; per-class accuracies and the rest stay in the logs.
SHOWN = ("val/top1", "val/top5", "val/loss", "val/agreement", "val/kl_teacher", "val/loss_cvae")
FRACTIONS = ("val/top1", "val/top5", "val/agreement")  # shown as percentages


class FitSummary(Callback):
    """After `dlkdd fit`: the best epoch (as the checkpoint callback chose it) with its validation figures,
    the checkpoint's path and the W&B run, in a few lines, on the first process only."""

    def __init__(self) -> None:
        self.validations: list[tuple[int, dict[str, float]]] = []

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking:
            return
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()
                   if k.startswith("val/") and v.numel() == 1}
        self.validations.append((trainer.current_epoch, metrics))

    def on_fit_end(self, trainer, pl_module) -> None:
        if trainer.is_global_zero:
            print(self.summary(trainer), flush=True)

    def summary(self, trainer) -> str:
        checkpoint = trainer.checkpoint_callback
        epoch, metrics = self.best_validation(checkpoint)
        # After a fit, current_epoch counts the epochs run; Lightning and the checkpoints number them from 0.
        epochs = f" of 0-{trainer.current_epoch - 1}" if trainer.current_epoch > 1 else ""
        head = f"Fit finished after {trainer.current_epoch} epochs, {trainer.global_step} steps."
        if epoch is not None:
            chosen = ""
            if checkpoint is not None and checkpoint.monitor:
                chosen = f" ({'lowest' if checkpoint.mode == 'min' else 'highest'} {checkpoint.monitor})"
            figures = ", ".join(show(k, metrics[k]) for k in SHOWN if k in metrics)
            head = f"Best epoch {epoch}{epochs}{chosen}: {figures or 'no validation figures'}"
        lines = [head]
        if checkpoint is not None and checkpoint.best_model_path:
            lines.append(f"  checkpoint  {checkpoint.best_model_path}")
        elif checkpoint is not None and checkpoint.last_model_path:
            lines.append(f"  checkpoint  {checkpoint.last_model_path}")
        run = wandb_run(trainer)
        if run:
            lines.append(f"  W&B run     {run}")
        return "\n".join(lines)

    def best_validation(self, checkpoint: ModelCheckpoint | None) -> tuple[int | None, dict[str, float]]:
        """The epoch whose monitored figure is the checkpoint's best score; the last validation when the
        checkpoint monitors nothing (it keeps the last epoch); none without validation."""
        if not self.validations:
            return None, {}
        if checkpoint is None or not checkpoint.monitor or checkpoint.best_model_score is None:
            return self.validations[-1]
        best = float(checkpoint.best_model_score)
        for epoch, metrics in self.validations:
            value = metrics.get(checkpoint.monitor)
            if value is not None and math.isclose(value, best, rel_tol=1e-6, abs_tol=1e-9):
                return epoch, metrics
        return self.validations[-1]


def show(key: str, value: float) -> str:
    return f"{key} {100 * value:.2f} %" if key in FRACTIONS else f"{key} {value:.4g}"


def wandb_run(trainer) -> str | None:
    """Where the run is: its URL online; offline, its folder and the command that uploads it."""
    loggers = trainer.loggers or []
    logger = next((lg for lg in loggers if isinstance(lg, WandbLogger)), None)
    if logger is None:
        return None
    run = logger.experiment
    if getattr(run, "disabled", False) or not getattr(run, "dir", None):
        return None
    if getattr(run, "offline", False):
        folder = Path(run.dir).parent
        return f"{folder} (offline; upload: wandb sync {folder})"
    return run.url
