"""Faults a long run meets, stopped or skipped with the evidence named: a non-finite loss (the step and
the batch's video files) and a DataLoader worker that dies (the file it was decoding; or, when a stopping
signal killed it, that no file is to blame).

Required callbacks (see dlkdd.callbacks): the model adds both when the trainer has none of their kind, so
every run has them; configure them from the YAML like any callback, e.g.

    trainer:
      callbacks:
        - class_path: dlkdd.callbacks.NonFiniteLoss
          init_args: {action: skip}
"""

from __future__ import annotations

import re
import signal
from typing import Literal

import lightning as L
import torch

from dlkdd.data.decoding_markers import file_being_decoded, remove_markers, remove_markers_of_dead_processes


class NonFiniteLossError(RuntimeError):
    """The training loss was NaN or infinite."""


def video_paths(dataset, indices: list[int]) -> list[str]:
    """The files behind dataset indices, through wrappers that keep the real dataset in `.dataset`."""
    while not hasattr(dataset, "items") and hasattr(dataset, "dataset"):
        dataset = dataset.dataset
    items = getattr(dataset, "items", None)
    if items is None:
        return [f"index {i}" for i in indices]
    return [str(items[i].path) for i in indices]


class NonFiniteLoss(L.Callback):
    """What to do when the training loss is NaN or infinite.

    Args:
        action: "stop" raises NonFiniteLossError naming the global step and the batch's video files;
            "skip" drops the batch's update (every process drops it under DDP: the gradients are
            all-reduced, so one process's NaN reaches all of them), warns with the same names, counts
            it in `train/skipped_batches`, and the run goes on.
    """

    def __init__(self, action: Literal["stop", "skip"] = "stop") -> None:
        if action not in ("stop", "skip"):
            raise ValueError(f"NonFiniteLoss action must be 'stop' or 'skip', got {action!r}")
        self.action = action
        self.skipped = 0
        self._indices: list[int] = []
        self._bad_loss = False

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._indices = batch["index"].tolist() if isinstance(batch, dict) and "index" in batch else []

    def on_before_backward(self, trainer, pl_module, loss: torch.Tensor) -> None:
        self._bad_loss = not bool(torch.isfinite(loss.detach()).all())
        # Every process takes the same decision, or the ones that go on wait forever for the others.
        any_bad = trainer.strategy.reduce_boolean_decision(self._bad_loss, all=False)
        if any_bad and self.action == "stop":
            raise NonFiniteLossError(self._describe(trainer, loss) + (
                " Stopped (NonFiniteLoss action=stop). Lower --model.init_args.lr, check these files, or "
                "skip such batches with a dlkdd.callbacks.NonFiniteLoss callback with action: skip."
            ))

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        if self.action != "skip":
            return
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        finite = bool(torch.stack([g.isfinite().all() for g in grads]).all()) if grads else True
        if finite and not self._bad_loss:
            return
        # Parameters without a gradient are left alone by torch's optimizers: no update, no moment change.
        for group in optimizer.param_groups:
            for p in group["params"]:
                p.grad = None
        self.skipped += 1
        pl_module.print(self._describe(trainer, None) + " Skipped this batch's update.")
        pl_module.log("train/skipped_batches", float(self.skipped), on_step=True, on_epoch=False)

    def _describe(self, trainer, loss: torch.Tensor | None) -> str:
        where = f"global step {trainer.global_step} (epoch {trainer.current_epoch})"
        if not self._bad_loss:
            return f"A non-finite loss on another process at {where}; this process's batch was finite."
        value = f" = {loss.item()}" if loss is not None else ""
        paths = video_paths(trainer.train_dataloader.dataset, self._indices)
        return f"Non-finite training loss{value} at {where}; the batch's videos: {', '.join(paths)}."

    def state_dict(self) -> dict:
        return {"skipped": self.skipped}

    def load_state_dict(self, state_dict: dict) -> None:
        self.skipped = state_dict.get("skipped", 0)


_WORKER_DEATH = re.compile(r"DataLoader worker \(pid(?:\(s\))? ([\d, ]+)\)")
_KILLED_BY = re.compile(r"killed by signal: ([^.]+)")
# What a person or a scheduler sends to stop a run (Ctrl-C, `kill`, SLURM's end of time): no file is to
# blame for a worker these killed. SIGKILL is not among them: the out-of-memory killer sends it too.
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


def stop_signal(message: str) -> signal.Signals | None:
    """The stopping signal torch's "DataLoader worker (pid N) is killed by signal: <name>." names, if any."""
    match = _KILLED_BY.search(message)
    names = {signal.strsignal(s): s for s in _STOP_SIGNALS}
    return names.get(match.group(1).strip()) if match else None


class WorkerDeathReport(L.Callback):
    """A DataLoader worker killed by a signal (out of memory, a crash inside a decoder) surfaces as torch's
    "DataLoader worker (pid N) is killed by signal"; this adds to that error the file the worker was
    decoding, so it can be checked or removed from the split list. (A note, not a new exception: Lightning
    must still tear the run down, which it does only after these hooks return.)"""

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        match = _WORKER_DEATH.search(str(exception))
        if match is not None:
            # the process itself got SIGTERM too (Lightning noted it), or torch names a stopping signal
            stopped_by = stop_signal(str(exception)) or (signal.SIGTERM if trainer.received_sigterm else None)
            pids = [int(p) for p in match.group(1).replace(",", " ").split()]
            exception.add_note(stopped_note(stopped_by) if stopped_by else worker_death_note(pids))
        remove_markers()

    def setup(self, trainer, pl_module, stage: str) -> None:
        remove_markers_of_dead_processes()

    def teardown(self, trainer, pl_module, stage: str) -> None:
        remove_markers()


def stopped_note(sig: signal.Signals) -> str:
    return (f"dlkdd: the run was stopped by a signal ({sig.name}, {signal.strsignal(sig)}) that reached its "
            "DataLoader workers from outside: no video is to blame. To go on where it stopped, run the same "
            "command with --ckpt_path <its last.ckpt> when the config saves one (save_last).")


def worker_death_note(pids: list[int]) -> str:
    files = "; ".join(f"worker {pid} was decoding {file_being_decoded(pid) or 'no file yet'}" for pid in pids)
    return (
        f"dlkdd: {files}. Check that file alone (e.g. `dlkdd predict` on a list holding only it), remove "
        "it from the split list, or give each worker more memory (fewer --data.num_workers)."
    )
