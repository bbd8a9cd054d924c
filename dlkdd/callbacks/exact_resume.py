"""Exact resume: the random draws of every training step are a function of (seed, batches trained, rank).

The data order and each clip's temporal crop already are (dlkdd.data.samplers). What is left draws from
torch's global RNG in the main process: the on-device augmentation (Kornia crop and flip) and dropout.
A resumed run cannot restore that RNG stream as it was (loading the checkpoint and starting the
loaders draw from it), so the stream is reseeded wherever control heads for the next training batch.

ExactResume is a required callback (see dlkdd.callbacks): the model adds it to every run.
"""

from __future__ import annotations

import lightning as L
import numpy as np
import torch
from torchmetrics import Metric

from dlkdd.data.samplers import run_seed


def step_seed(seed: int, batches_done: int, rank: int) -> int:
    return int(np.random.SeedSequence([seed, batches_done, rank]).generate_state(1, np.uint64)[0] >> 1)


class ExactResume(L.Callback):
    """Reseeds torch's RNG before each training batch from (seed, batches trained so far, global rank):
    the same augmentation and dropout for batch k whether or not the run was interrupted before it;
    different processes under DDP draw differently. Also makes sure a resumed run's training loader
    starts where the interrupted one stopped (see on_train_start)."""

    def __init__(self) -> None:
        self._saved_metric_states: dict | None = None

    def _reseed(self, trainer: L.Trainer) -> None:
        done = trainer.fit_loop.epoch_loop.batch_progress.total.ready
        torch.manual_seed(step_seed(run_seed(), done, trainer.global_rank))

    def on_train_start(self, trainer, pl_module) -> None:
        fit_loop = trainer.fit_loop
        if fit_loop.restarting and fit_loop._combined_loader_states_to_load:
            # Lightning 2.6 builds and starts the train loader early when configure_optimizers asks for
            # trainer.estimated_stepping_batches, before the checkpoint is restored, and then never gives
            # it the saved state: give it now, and restart the iterator from that state.
            fit_loop._load_combined_loader_states()
            iter(fit_loop._data_fetcher)
        if self._saved_metric_states is not None and trainer.is_global_zero:
            load_metric_states(pl_module.train_metrics, self._saved_metric_states)
        self._saved_metric_states = None
        self._reseed(trainer)  # a resumed run: before its first batch

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._reseed(trainer)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._reseed(trainer)

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.training:  # validation inside fit draws from the RNG too
            self._reseed(trainer)

    # The epoch's training metrics so far (torchmetrics keeps them out of the state_dict): summed over
    # the processes when saving, given back to one process when resuming, so none is counted twice.
    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        if isinstance(getattr(pl_module, "train_metrics", None), torch.nn.Module):
            checkpoint["train_metric_states"] = metric_states(pl_module.train_metrics)

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        self._saved_metric_states = checkpoint.get("train_metric_states")


def _leaf_metrics(metrics: torch.nn.Module) -> dict[str, Metric]:
    return {name: m for name, m in metrics.named_modules() if isinstance(m, Metric) and m.metric_state}


def metric_states(metrics: torch.nn.Module) -> dict[str, dict[str, torch.Tensor]]:
    """The states of every torchmetrics Metric inside `metrics`, synced across processes under DDP."""
    states = {}
    for name, metric in _leaf_metrics(metrics).items():
        with metric.sync_context(should_sync=True, should_unsync=True):
            states[name] = {k: v.detach().cpu().clone() for k, v in metric.metric_state.items()}
    return states


def load_metric_states(metrics: torch.nn.Module, states: dict[str, dict[str, torch.Tensor]]) -> None:
    for name, metric in _leaf_metrics(metrics).items():
        for key, value in states.get(name, {}).items():
            setattr(metric, key, value.to(getattr(metric, key).device))
