"""Clips per second and the fraction of training time spent waiting for data."""

from __future__ import annotations

import time

import lightning as L
import torch


class ThroughputMonitor(L.Callback):
    """Logs `perf/clips_per_s` and `perf/data_wait` (the share of wall time between the end of one
    training step and the start of the next: DataLoader wait, host-to-device copy and view building).
    A data_wait near 1 means the GPU starves: raise --data.num_workers or lower the frame size."""

    def __init__(self) -> None:
        self._last_end: float | None = None
        self._start = 0.0
        self._wait = 0.0

    def _forget_last_step(self, *args) -> None:
        # Validation and epoch boundaries are not data wait.
        self._last_end = None

    on_train_epoch_start = on_validation_end = _forget_last_step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._start = time.perf_counter()
        self._wait = self._start - self._last_end if self._last_end is not None else -1.0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if pl_module.device.type == "cuda":
            # Kernels run asynchronously: without this the step would look free and its compute
            # would be counted as the next step's data wait.
            torch.cuda.synchronize(pl_module.device)
        self._last_end = time.perf_counter()
        if self._wait < 0 or batch is None:
            return
        clips = len(batch["label"])
        total = self._last_end - self._start + self._wait
        pl_module.log_dict(
            {"perf/clips_per_s": clips / total, "perf/data_wait": self._wait / total},
            on_step=True, on_epoch=False, batch_size=clips,
        )
