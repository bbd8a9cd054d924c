"""The GPU figures at the real scale: `dlkdd fit` of the ARID teacher and distillation configs on
generated ARID-like files, with the decoded-clip store off and on (under 10 minutes on one GPU).

    python -m benchmarks.gpu_check --out gpu_check.json          # needs a CUDA GPU
    python -m benchmarks.gpu_check --smoke                       # CPU plumbing check, tiny settings

Four real fits of configs/arid/{teacher,distill}.yaml (R(2+1)D-34, bf16-mixed, channels_last_3d for the
distillation's teacher, 32 frames at stride 2, 170x128, batch 8, the config's 8 workers) through
dlkdd.cli.main, each for --steps training steps, on 11 classes x --videos_per_class ARID-like AVIs
(MPEG-4 Part 2, 320x240, 30 fps, 4 s): teacher without the store, teacher with it (its one-time build
timed), then the distillation (taught by the first teacher) without and with it. Per fit it reports,
over the steps after the first --warmup: clips/s and perf/data_wait (median and mean of the
ThroughputMonitor's per-step values, read from a CSV log), the step time without the data wait, and
the peak GPU memory.
"""

from __future__ import annotations

import csv
import statistics
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import machine, markdown_table, parser, quiet_lightning, working_dir, write_json
from dlkdd.cli import main as cli_main
from dlkdd.data.sources import ARID_CLASSES
from dlkdd.synthetic.formats import generate_arid_like

REPO = Path(__file__).resolve().parent.parent
SMOKE = ["--model.init_args.backbone=tiny_r2plus1d", "--model.init_args.pretrained=null",
         "--data.clip_len=4", "--data.frame_size=[32, 43]",
         "--data.crop_size=28", "--data.batch_size=4", "--data.num_workers=0", "--trainer.accelerator=cpu",
         "--trainer.precision=32-true", "--data.num_clips=1", "--data.num_crops=1"]


def per_step(metrics_csv: Path, warmup: int) -> dict[str, float]:
    """Medians and means of the ThroughputMonitor's per-step values after `warmup` steps."""
    with open(metrics_csv) as handle:
        rows = [r for r in csv.DictReader(handle) if r.get("perf/clips_per_s")]
    rows = rows[warmup:] or rows
    clips_per_s = [float(r["perf/clips_per_s"]) for r in rows]
    wait = [float(r["perf/data_wait"]) for r in rows]
    # A step's wall time per clip is 1 / clips_per_s; without the wait, the step's own (compute) time.
    step = [(1 - w) / c for w, c in zip(wait, clips_per_s, strict=True)]
    return {"steps": len(rows), "clips_per_s_median": statistics.median(clips_per_s),
            "clips_per_s_mean": statistics.fmean(clips_per_s), "data_wait_median": statistics.median(wait),
            "data_wait_mean": statistics.fmean(wait), "seconds_per_clip_compute": statistics.median(step)}


def fit(config: str, root: Path, store: Path | None, steps: int, warmup: int, logs: Path, name: str,
        extra: list[str]) -> dict[str, float]:
    args = ["fit", "--config", str(REPO / config), f"--data.root={root}", f"--trainer.max_steps={steps}",
            "--trainer.limit_val_batches=2", "--trainer.log_every_n_steps=1",
            "--trainer.enable_progress_bar=false", "--trainer.logger=lightning.pytorch.loggers.CSVLogger",
            f"--trainer.logger.save_dir={logs}", f"--trainer.logger.name={name}",
            f"--data.clip_store={store if store else 'false'}", *extra]
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    cli = cli_main(args)
    wall = time.perf_counter() - start
    result = per_step(Path(cli.trainer.logger.log_dir) / "metrics.csv", warmup)
    batch = cli.datamodule.hparams.batch_size
    peak = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else 0.0
    result.update({"wall_s": wall, "batch": batch, "peak_gpu_gib": peak,
                   "step_ms": 1e3 * batch * result.pop("seconds_per_clip_compute")})
    return result


def main(argv: list[str] | None = None) -> dict:
    p = parser(__doc__.split("\n")[0])
    p.add_argument("--videos_per_class", type=int, default=12)
    p.add_argument("--seconds", type=float, default=4.0, help="length of each generated video")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--warmup", type=int, default=10, help="first steps left out of the figures")
    p.add_argument("--workdir", type=Path, default=None, help="keep the data, store and runs here")
    p.add_argument("--smoke", action="store_true", help="CPU, tiny network and clips: checks the plumbing")
    args = p.parse_args(argv)
    if not torch.cuda.is_available() and not args.smoke:
        raise SystemExit("benchmarks.gpu_check needs a CUDA GPU (use --smoke for a CPU plumbing check).")
    extra = SMOKE if args.smoke else []
    quiet_lightning()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        root = work / "ARID"
        if not (root / "list_cvt").is_dir():
            generate_arid_like(root, ARID_CLASSES, args.videos_per_class, args.seconds,
                               workers=torch.get_num_threads())
        store = work / "clip_store"
        results: dict = {"videos_per_class": args.videos_per_class, "steps": args.steps, "runs": {}}
        with working_dir(work):  # the configs' runs/arid/... land in the work folder
            for stage in ("teacher", "distill"):
                for use_store in (False, True):
                    name = f"{stage}_{'store' if use_store else 'decode'}"
                    print(f"== {name}", flush=True)
                    results["runs"][name] = fit(f"configs/arid/{stage}.yaml", root,
                                                store if use_store else None, args.steps, args.warmup,
                                                work / "logs", name, extra)
    rows = [[name, f"{r['clips_per_s_median']:.0f}",
             f"{r['data_wait_median']:.2f} / {r['data_wait_mean']:.2f}", f"{r['step_ms']:.0f}",
             f"{r['peak_gpu_gib']:.1f}", f"{r['wall_s']:.0f}"]
            for name, r in results["runs"].items()]
    print(markdown_table(["fit", "clips/s (median)", "perf/data_wait (median / mean)", "step ms without wait",
                          "peak GPU GiB", "wall s (incl. start, store build)"], rows))
    write_json(args.out, {"machine": machine(), **results})
    return results


if __name__ == "__main__":
    main()
