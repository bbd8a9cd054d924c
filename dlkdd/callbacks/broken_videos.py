"""The broken videos of each split and epoch, as a logged figure (the data module's BrokenVideoLog keeps
them; dlkdd.data.broken)."""

from __future__ import annotations

import lightning as L

from dlkdd.data.broken import BrokenVideoLog


class BrokenVideoMonitor(L.Callback):
    """Logs `data/broken_videos_<split>` per epoch: the split's videos excluded up front plus the clips
    that failed to decode this epoch, from the log of the trainer's data module (nothing without one,
    e.g. a fit on bare DataLoaders). A required callback: the model adds it (see dlkdd.callbacks)."""

    SPLIT_OF_STAGE = {"train": "train", "validation": "val", "test": "test"}

    @staticmethod
    def _log_of(trainer: L.Trainer) -> BrokenVideoLog | None:
        broken = getattr(trainer.datamodule, "broken", None)
        return broken if isinstance(broken, BrokenVideoLog) else None

    def _start(self, trainer: L.Trainer, stage: str) -> None:
        broken = self._log_of(trainer)
        if broken is not None:
            broken.epoch_failures[self.SPLIT_OF_STAGE[stage]] = 0

    def _end(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        broken = self._log_of(trainer)
        if broken is None:
            return
        split = self.SPLIT_OF_STAGE[stage]
        # Summed over ranks: each rank adds its own decode failures; rank 0 adds the shared exclusions.
        excluded = len(broken.excluded.get(split, ())) if trainer.global_rank == 0 else 0
        count = float(broken.epoch_failures[split] + excluded)
        pl_module.log(f"data/broken_videos_{split}", count, reduce_fx="sum", sync_dist=True)

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._start(trainer, "train")

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        self._start(trainer, "validation")

    def on_test_epoch_start(self, trainer, pl_module) -> None:
        self._start(trainer, "test")

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._end(trainer, pl_module, "train")

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self._end(trainer, pl_module, "validation")

    def on_test_epoch_end(self, trainer, pl_module) -> None:
        self._end(trainer, pl_module, "test")
