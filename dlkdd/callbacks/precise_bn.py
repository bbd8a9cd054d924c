"""Precise BatchNorm statistics before each validation of a fit (PySlowFast's BN.USE_PRECISE_STATS).

BatchNorm's running statistics are an exponential average over the last few dozen training batches,
taken while the weights moved. A schedule that anneals the learning rate to zero (the AdamW + cosine of
dlkdd's configs) ends with statistics that match the weights; a constant learning rate (GenKD as
released: SGD 1e-3 throughout) does not, and the evaluated network, which normalises with those
statistics, can be far from the one training saw. On the generated data the last checkpoint of a
released-GenKD student scored 10 % on validation with its own statistics and 57 % with statistics
re-estimated on one pass over the training clips, its weights untouched (docs/results.md, "GenKD
ablation").

This callback re-estimates them the way PySlowFast's precise BN does: with the weights fixed, a pass over
(up to ``num_batches``) training batches, training views and all, in train mode without gradients; each
BatchNorm's statistics become the plain average over those batches (the BatchNorm layers that learn: a
frozen network, such as GenKD phase 1's teacher, keeps its own). It changes no weight and draws from
no random generator that training uses (the pass runs on forked generators), so the training run is the
same with or without it; only what validation, the checkpoints and a later test see differs.
"""

from __future__ import annotations

import lightning as L
import torch
from torch.nn.modules.batchnorm import _BatchNorm


class PreciseBatchNorm(L.Callback):
    """Args:
    num_batches: training batches per estimate (PySlowFast: 200); fewer when the split has fewer.
    """

    def __init__(self, num_batches: int = 200) -> None:
        if num_batches < 1:
            raise ValueError(
                f"--trainer.callbacks: PreciseBatchNorm's num_batches (training batches per estimate) must "
                f"be 1 or more, got {num_batches}; to fit without re-estimating, leave it out of the list"
            )
        self.num_batches = num_batches

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn == "fit" and not trainer.sanity_checking:
            self.estimate(trainer, pl_module)

    def estimate(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # A frozen network (GenKD phase 1's teacher) keeps its statistics: only layers that learn are redone.
        norms = [m for m in pl_module.modules() if isinstance(m, _BatchNorm) and m.track_running_stats
                 and (m.weight is None or m.weight.requires_grad)]
        if not norms:
            return
        momenta = [m.momentum for m in norms]
        for norm in norms:
            norm.reset_running_stats()
            norm.momentum = None  # a cumulative average over the pass, as torch.optim.swa_utils.update_bn
        datamodule = trainer.datamodule
        # The pass decodes training videos again: a broken one is named once already, not counted twice.
        broken = getattr(datamodule, "broken", None)
        failures = broken.epoch_failures.copy() if broken is not None else None
        stage, was_training = trainer.state.stage, pl_module.training
        devices = [pl_module.device] if pl_module.device.type == "cuda" else []
        try:
            trainer.training = True  # the data module builds training views (random crops) in this stage
            pl_module.train()
            with torch.random.fork_rng(devices=devices), torch.no_grad():
                for index, batch in enumerate(datamodule.train_dataloader()):
                    if index == self.num_batches:
                        break
                    batch = trainer.strategy.batch_to_device(batch)  # views are built on the device
                    if batch is not None:
                        pl_module.batch_logits(batch)
        finally:
            trainer.state.stage = stage
            pl_module.train(was_training)
            for norm, momentum in zip(norms, momenta, strict=True):
                norm.momentum = momentum
            if broken is not None:
                broken.epoch_failures = failures
        # Under DDP every rank passed over the same clips with the same seeds; the mean keeps the ranks equal
        # where kernels are not bitwise deterministic (GPU).
        for norm in norms:
            norm.running_mean.copy_(trainer.strategy.reduce(norm.running_mean, reduce_op="mean"))
            norm.running_var.copy_(trainer.strategy.reduce(norm.running_var, reduce_op="mean"))
