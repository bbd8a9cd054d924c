"""Archive throughput of `dlkdd watch FOLDER`: one process against N processes of torchrun on one machine.

    python -m benchmarks.watch_archive --ckpt_path runs/synthetic/distill/checkpoints/best.ckpt
    python -m benchmarks.watch_archive --ckpt_path best.ckpt --recordings 8 --duration 120 --processes 1 2 4

Writes (or reuses) generated night recordings (dlkdd.synthetic.recordings, the quickstart's frame size),
then runs the real command over the folder, once per process count and round (in turn, round after
round, so a busy machine slows every count alike), each into a fresh output folder. Reports media
seconds per wall second, start-up included (what a user waits for), and checks that every process
count wrote the same timelines.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import markdown_table, parser, write_json
from dlkdd.synthetic.recordings import LongVideoConfig, generate_long_video

REPO = Path(__file__).resolve().parent.parent


def command(processes: int, folder: Path, out: Path, ckpt: Path) -> list[str]:
    option = "--ckpt_path" if ckpt.suffix == ".ckpt" else "--model_file"  # a fit checkpoint, or exported
    watch = ["watch", str(folder), option, str(ckpt), "--output_dir", str(out), "--status_every", "0"]
    if processes == 1:
        return [sys.executable, "-m", "dlkdd", *watch]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
            "-m", "dlkdd", *watch]


def timelines(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.timeline.csv"))}


def main(argv: list[str] | None = None) -> dict:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--ckpt_path", type=Path, required=True, help="the student (a .ckpt or an exported file)")
    p.add_argument("--recordings", type=int, default=4)
    p.add_argument("--duration", type=float, default=60.0, help="seconds of each generated recording")
    p.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--workdir", type=Path, default=None, help="recordings kept here (default: temp)")
    args = p.parse_args(argv)

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="dlkdd-archive-"))
    folder = workdir / "archive"
    for k in range(args.recordings):
        path = folder / f"cam{k}.mp4"
        if not path.exists():
            generate_long_video(path, LongVideoConfig(duration=args.duration, seed=k))
    media = args.recordings * args.duration
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    seconds: dict[int, list[float]] = {n: [] for n in args.processes}
    written: dict[int, dict[str, bytes]] = {}
    for r in range(args.rounds):
        for n in args.processes:
            out = workdir / f"out_{n}_{r}"
            began = time.perf_counter()
            subprocess.run(command(n, folder, out, args.ckpt_path), env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            seconds[n].append(time.perf_counter() - began)
            written[n] = timelines(out)
    same = all(files == written[args.processes[0]] for files in written.values())
    base = statistics.median(seconds[args.processes[0]])
    rows = {n: {"wall_seconds": statistics.median(s), "realtime_factor": media / statistics.median(s),
                "speedup": base / statistics.median(s)} for n, s in seconds.items()}
    print(markdown_table(["processes", "wall s (median)", "x real time", "speed-up"],
                         [[n, f"{r['wall_seconds']:.1f}", f"{r['realtime_factor']:.1f}",
                           f"{r['speedup']:.2f}"] for n, r in rows.items()]))
    print(f"{args.recordings} recordings x {args.duration:.0f} s; every process count wrote the same "
          f"timelines: {same}")
    results = {"recordings": args.recordings, "duration": args.duration, "rounds": args.rounds,
               "cpus": os.cpu_count(), "same_timelines": same, "processes": rows}
    write_json(args.out, results)
    return results


if __name__ == "__main__":
    main()
