"""What every benchmark shares: interleaved timing (ratios measured in one run, robust to a noisy shared
machine), seed statistics, markdown tables, and the `--out FILE` JSON convention."""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset


def parser(description: str | None) -> argparse.ArgumentParser:
    """An argument parser with the `--out FILE` option every benchmark takes."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--out", type=Path, default=None, help="also write the figures to this JSON file")
    return p


def _sync(device: torch.device | str | None) -> None:
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def interleaved_samples(
    candidates: dict[str, Callable[[], object]],
    rounds: int = 10,
    warmup: int = 2,
    device: torch.device | str | None = None,
) -> dict[str, list[float]]:
    """Seconds of each call of each candidate, calling them in turn round after round, so a slow spell of
    the machine hits every candidate alike and their ratios stay meaningful."""
    for fn in candidates.values():
        for _ in range(warmup):
            fn()
    _sync(device)
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, fn in candidates.items():
            start = time.perf_counter()
            fn()
            _sync(device)
            samples[name].append(time.perf_counter() - start)
    return samples


def interleaved_times(
    candidates: dict[str, Callable[[], object]],
    rounds: int = 10,
    warmup: int = 2,
    device: torch.device | str | None = None,
) -> dict[str, float]:
    """Median seconds per call of each candidate, timed by :func:`interleaved_samples`."""
    samples = interleaved_samples(candidates, rounds, warmup, device)
    return {name: statistics.median(times) for name, times in samples.items()}


def mean_and_spread(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    values = list(values)
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def machine() -> dict[str, object]:
    """Where the figures were taken, stored beside them."""
    info: dict[str, object] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def provenance() -> dict[str, str]:
    """What made a result file: the commit (with "-dirty" when the tree had changes outside
    benchmarks/results: a sequence of benchmarks writing there one after the other is not dirty code), the
    command line and the date, so figures need no commit hash in their file name."""
    repo = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        try:
            done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
            return done.stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown (not a git checkout)"
    if git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!benchmarks/results"):
        commit += "-dirty"
    main = sys.modules.get("__main__")
    module = getattr(getattr(main, "__spec__", None), "name", None)  # set under `python -m benchmarks.x`
    module = module.removesuffix(".__main__") if module else None  # `python -m package` runs its __main__
    command = ["python", "-m", module] if module else ["python", sys.argv[0]]
    return {"commit": commit, "command": shlex.join(command + sys.argv[1:]),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def write_json(path: Path | None, results: dict) -> None:
    """Write a benchmark's figures with where (machine) and how (commit, command, date) they were taken."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    figures = {"machine": machine(), "provenance": provenance(), **results}
    path.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"wrote {path}")


def report(out: Path | None, results: dict, header: Sequence[str], rows: Sequence[Sequence[object]]) -> dict:
    """A benchmark's last step: its table on the console, its figures (with provenance) in `out`."""
    print(markdown_table(header, rows))
    write_json(out, results)
    return results


@contextmanager
def working_dir(path: Path) -> Iterator[None]:
    """Run with `path` as the working directory: the configs' relative `runs/...` folders land there, so
    a benchmark's fits never overwrite each other or a user's runs."""
    path.mkdir(parents=True, exist_ok=True)
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def quiet_lightning() -> None:
    """Keep the benchmark's own figures readable: no Trainer banners or hardware notes."""
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="lightning")


class SameBatch(Dataset):
    """The same batch, `length` times: isolates the model step from data loading."""

    def __init__(self, batch: dict, length: int) -> None:
        self.batch, self.length = batch, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        return self.batch


class StepTimer(L.Callback):
    """Seconds from the start to the end of each training batch (forward, backward, optimizer step)."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        _sync(pl_module.device)
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        _sync(pl_module.device)
        self.times.append(time.perf_counter() - self._start)


def median_train_step(
    module: L.LightningModule, batch: dict, steps: int, warmup: int = 3, precision: str = "32-true"
) -> float:
    """Median seconds of a real Lightning training step of `module` on `batch` (views already built)."""
    timer = StepTimer()
    trainer = L.Trainer(
        max_steps=warmup + steps, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, limit_val_batches=0, num_sanity_val_steps=0, callbacks=[timer],
        precision=precision, devices=1,
    )
    trainer.fit(module, DataLoader(SameBatch(batch, warmup + steps), batch_size=None))
    return statistics.median(timer.times[warmup:])
