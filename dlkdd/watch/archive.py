"""Archives at scale: a folder of recordings shared out over processes and machines by torch.distributed.

Launched by `torchrun` (one machine: ``torchrun --standalone --nproc_per_node 4 -m dlkdd watch DIR ...``;
several: ``--nnodes``/``--rdzv_endpoint``) or by SLURM's ``srun`` (one task per process), each process is a
rank of a gloo process group; Lightning's cluster environments read the rank, the world size and the main
address from the variables those launchers set. The recordings are shared out by size (largest first, each
to the rank with the fewest bytes so far), the same split on every rank, so no rank waits on a queue. Each
recording is processed exactly as a single process would (the same `watch()` call, the same files), so
its outputs do not depend on how many processes ran.

Resumable: a recording's outputs are complete when its ``NAME.summary.json`` (written last, atomically) is
there with the same settings and model, and a rerun skips it. At the end rank 0 gathers every rank's
summaries and prints the total.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch.distributed as dist
from lightning.fabric.plugins.environments import SLURMEnvironment, TorchElasticEnvironment

from dlkdd.watch.pipeline import Summary

SUMMARY_SUFFIX = ".summary.json"


@dataclass(frozen=True)
class Share:
    rank: int = 0
    world_size: int = 1

    def of(self, recordings: list[Path]) -> list[Path]:
        """This rank's recordings, in the order given (the split depends only on names and sizes)."""
        if self.world_size == 1:
            return list(recordings)
        size = {p: p.stat().st_size for p in recordings}
        load = [0] * self.world_size
        owner: dict[Path, int] = {}
        for path in sorted(recordings, key=lambda p: (-size[p], str(p))):
            owner[path] = rank = load.index(min(load))
            load[rank] += size[path]
        return [p for p in recordings if owner[p] == self.rank]


def join_process_group() -> Share:
    """This process's place among the launched ones (rank 0 of 1 when not launched by torchrun/srun)."""
    if dist.is_available() and dist.is_initialized():
        return Share(dist.get_rank(), dist.get_world_size())
    for environment in (TorchElasticEnvironment, SLURMEnvironment):
        if environment.detect():
            env = environment()
            if env.world_size() > 1:
                dist.init_process_group("gloo", init_method=f"tcp://{env.main_address}:{env.main_port}",
                                        rank=env.global_rank(), world_size=env.world_size())
                return Share(env.global_rank(), env.world_size())
    return Share()


def summary_path(output_dir: Path, name: str) -> Path:
    return output_dir / f"{name}{SUMMARY_SUFFIX}"


def is_complete(output_dir: Path, name: str, settings: dict[str, str]) -> bool:
    """The recording's outputs were all written, with these settings."""
    try:
        return json.loads(summary_path(output_dir, name).read_text()).get("settings") == settings
    except (OSError, ValueError):
        return False


def write_summary(output_dir: Path, name: str, summary: Summary, settings: dict[str, str]) -> None:
    """The recording's completion mark: written after every other file of it is closed, atomically."""
    path = summary_path(output_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    record = {**asdict(summary), "realtime_factor": summary.realtime_factor, "settings": settings}
    partial.write_text(json.dumps(record, indent=1))
    os.replace(partial, path)


def gather(share: Share, done: list[Summary], skipped: list[str]) -> tuple[list[Summary], list[str]] | None:
    """Every rank's (summaries, skipped names) on rank 0 (None on the others)."""
    if share.world_size == 1:
        return done, skipped
    parts = [None] * share.world_size if share.rank == 0 else None
    dist.gather_object((done, skipped), parts, dst=0)
    if share.rank != 0:
        return None
    return [s for part in parts for s in part[0]], [n for part in parts for n in part[1]]


def total_line(summaries: list[Summary], skipped: list[str], world_size: int, wall_seconds: float) -> str:
    media = sum(s.media_seconds for s in summaries)
    return (f"{len(summaries)} recordings watched, {len(skipped)} already complete and skipped, by "
            f"{world_size} process{'es' if world_size > 1 else ''}: {media:.1f} s of video in "
            f"{wall_seconds:.1f} s ({media / wall_seconds if wall_seconds > 0 else 0:.1f}x real time), "
            f"{sum(s.windows for s in summaries)} windows, {sum(s.events for s in summaries)} events")
