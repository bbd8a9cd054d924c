"""Sampling for exact resume and for DDP: the training order and every clip's randomness are functions
of (seed, epoch, index), and evaluation counts every video once.

Lightning saves and restores a training DataLoader that has state_dict/load_state_dict (the fit loop
keeps it in the checkpoint); it keeps a sampler that is a DistributedSampler as it is under DDP.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, DistributedSampler


def process_group() -> tuple[int, int]:
    """(world size, rank), (1, 0) outside torch.distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(), dist.get_rank()
    return 1, 0


class ResumableSampler(DistributedSampler):
    """Training order: a permutation of the dataset drawn from (seed, epoch); process r of `world` takes
    entries r, r + world, ... of it, so the union of the processes' batches j is the batch j one
    process would train on with the global batch size. Each index is yielded with its own sample seed,
    drawn from (seed, epoch) for that index: a clip's random start does not depend on which worker
    decodes it, on the number of processes, nor on whether the run was resumed.

    `skip_once(n)` leaves out the first n entries of this process's share of the next epoch it
    iterates (a mid-epoch resume); later epochs are whole again.
    """

    def __init__(self, dataset: Dataset, seed: int = 0) -> None:
        world, rank = process_group()
        super().__init__(dataset, num_replicas=world, rank=rank, shuffle=True, seed=seed, drop_last=True)
        self._skip = 0

    def skip_once(self, num_samples: int) -> None:
        self._skip = num_samples

    def __iter__(self) -> Iterator[tuple[int, int]]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)  # DistributedSampler's order
        order = torch.randperm(len(self.dataset), generator=generator)
        sample_seeds = torch.randint(2**62, (len(self.dataset),), generator=generator)
        share = order[: self.total_size][self.rank :: self.num_replicas][self._skip :].tolist()
        self._skip = 0
        return iter([(index, int(sample_seeds[index])) for index in share])


class SeededSamples(Dataset):
    """Item (index, seed) -> dataset[index] drawn with torch's RNG seeded by `seed` (and restored after),
    so the dataset's own random choices (the training clip's start) are reproducible per sample."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]):
        index, seed = key
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self.dataset[index]


class ResumableDataLoader(DataLoader):
    """The training DataLoader: its state is (seed, epoch, batches of the epoch the training loop has
    taken), read from the trainer's own progress counters when the checkpoint is written (the loop
    fetches a batch ahead, so counting batches yielded here would be one off). Loading the state makes
    the next iteration start at the first batch the interrupted run had not trained on."""

    def __init__(self, dataset: Dataset, *args, trainer=None, **kwargs) -> None:
        super().__init__(dataset, *args, **kwargs)
        self.trainer = trainer

    def state_dict(self) -> dict[str, int]:
        sampler: ResumableSampler = self.sampler
        taken = self.trainer.fit_loop.epoch_loop.batch_progress.current.ready if self.trainer else 0
        return {"seed": sampler.seed, "epoch": sampler.epoch, "batches_taken": taken}

    def load_state_dict(self, state: dict[str, int]) -> None:
        sampler: ResumableSampler = self.sampler
        sampler.seed = state["seed"]
        if state["batches_taken"] >= len(self):  # saved at the end of an epoch: the next one is whole
            sampler.set_epoch(state["epoch"] + 1)
            return
        sampler.set_epoch(state["epoch"])
        sampler.skip_once(state["batches_taken"] * self.batch_size)


class EvalShardSampler(DistributedSampler):
    """Evaluation under DDP: process r takes videos r, r + world, ...: every video exactly once.

    Lightning's automatic DistributedSampler pads the last round with duplicates; metrics that are sums
    over videos (torchmetrics accuracy states) then count those videos twice. Processes may get one
    video more or less than each other: per-video metric states are synced once, at compute()."""

    def __init__(self, dataset: Dataset) -> None:
        world, rank = process_group()
        super().__init__(dataset, num_replicas=world, rank=rank, shuffle=False)
        self.num_samples = len(range(rank, len(dataset), world))
        self.total_size = len(dataset)

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, len(self.dataset), self.num_replicas))


def run_seed() -> int:
    """The run's seed: `seed_everything` (LightningCLI sets it from the config), 0 when unset."""
    return int(os.environ.get("PL_GLOBAL_SEED", 0))


def ordered_loader(dataset: Dataset, train: bool, trainer=None, **loader_options) -> DataLoader:
    """Training: a resumable loader over seeded samples in (seed, epoch) order, whole batches only.
    Evaluation: the dataset in order, each process its own share of the videos, no duplicates."""
    if train:
        sampler = ResumableSampler(dataset, seed=run_seed())
        # Its own generator: starting an epoch's iterator then draws nothing from torch's global RNG,
        # whose stream the on-device augmentation uses (dlkdd.callbacks.exact_resume).
        generator = torch.Generator().manual_seed(run_seed())
        return ResumableDataLoader(SeededSamples(dataset), sampler=sampler, drop_last=True, trainer=trainer,
                                   generator=generator, **loader_options)
    return DataLoader(dataset, sampler=EvalShardSampler(dataset), drop_last=False, **loader_options)
