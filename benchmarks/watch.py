"""`dlkdd watch` on a long generated night recording with ground truth: how well the events match the
annotations, and how fast it runs against real time and against decoding alone.

    python -m benchmarks.watch --ckpt_path runs/synthetic/distill/checkpoints/best.ckpt
    python -m benchmarks.watch --ckpt_path best.ckpt --duration 600 --hops 1f 0.5s 1.5s --out results.json

Writes (or reuses) a recording of consecutive action segments with no-action gaps
(dlkdd.synthetic.recordings, the quickstart's frame size and fps), runs the watch pipeline at each hop
and reports: frame-level accuracy (each frame's state, an event's class or no action, against the
annotation), event precision / recall / F1 at temporal IoU 0.5, the top-1 accuracy of the windows that
lie wholly inside one action (the model alone, before the event logic), and throughput as a multiple of
real time next to a decode-only pass (every frame decoded and scaled to the model's frame size, nothing
else), the two timed in turn, round after round, so a busy machine slows both alike.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import torch

from benchmarks.common import parser, report
from dlkdd.inference import load_clip_model
from dlkdd.synthetic.recordings import LongVideoConfig, generate_long_video
from dlkdd.watch import WatchOptions, watch
from dlkdd.watch.scoring import event_scores, frame_accuracy
from dlkdd.watch.source import VideoSource


def decode_only(path: Path, frame_size: tuple[int, int]) -> float:
    began = time.perf_counter()
    for frame in VideoSource(path, frame_size, live=False):
        frame.image  # noqa: B018  (the swscale conversion every window's frame pays)
    return time.perf_counter() - began


def window_accuracy(timeline: Path, segments: list[dict]) -> float:
    """Top-1 of the windows wholly inside one annotated action."""
    hits = total = 0
    for line in timeline.read_text().splitlines():
        row = json.loads(line)
        inside = [s for s in segments if s["class"] and s["start"] <= row["start"] and row["end"] <= s["end"]]
        if inside:
            total += 1
            hits += row["classes"][0] == inside[0]["class"]
    return hits / total if total else float("nan")


def main(argv: list[str] | None = None) -> dict:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--ckpt_path", type=Path, required=True, help="the student (a .ckpt or an exported file)")
    p.add_argument("--duration", type=float, default=300.0, help="seconds of generated recording")
    p.add_argument("--fps", type=int, default=15)
    p.add_argument("--hops", nargs="+", default=["1f", "0.5s", "1.5s"])
    p.add_argument("--smooth", type=int, default=1)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2, help="torch threads (the issue's 2 CPU cores)")
    p.add_argument("--video", type=Path, default=None, help="recording to write/reuse (default: a temp dir)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="dlkdd-watch-bench-"))
    video = args.video or work / "night.mp4"
    config = LongVideoConfig(duration=args.duration, fps=args.fps, seed=0)
    annotations_path = video.with_suffix(video.suffix + ".json")
    if not annotations_path.is_file() or json.loads(annotations_path.read_text())["config"] != json.loads(
            json.dumps(asdict(config))):
        generate_long_video(video, config)
    annotations = json.loads(annotations_path.read_text())
    segments, num_frames = annotations["segments"], annotations["num_frames"]
    model = load_clip_model(args.ckpt_path)

    def full(hop: str) -> tuple[float, object]:
        options = WatchOptions(hop=hop, smooth=args.smooth, timeline=work / f"{hop}.jsonl",
                               events=work / f"{hop}.events.jsonl")
        began = time.perf_counter()
        summary = watch(video, model, options)
        return time.perf_counter() - began, summary

    times: dict[str, list[float]] = {"decode only": [], **{hop: [] for hop in args.hops}}
    summaries = {}
    for _ in range(args.rounds):  # interleaved: decode-only, then each hop, round after round
        times["decode only"].append(decode_only(video, model.spec.frame_size))
        for hop in args.hops:
            seconds, summaries[hop] = full(hop)
            times[hop].append(seconds)
    median = {name: sorted(values)[len(values) // 2] for name, values in times.items()}

    actions = sum(1 for s in segments if s["class"])
    results = {"video": {"duration_s": args.duration, "fps": args.fps, "frames": num_frames,
                         "size": [config.height, config.width], "actions": actions},
               "checkpoint": str(args.ckpt_path), "threads": args.threads, "rounds": args.rounds,
               "smooth": args.smooth, "decode_only_x_realtime": args.duration / median["decode only"],
               "hops": {}}
    rows = []
    for hop in args.hops:
        events = [json.loads(line) for line in (work / f"{hop}.events.jsonl").read_text().splitlines()]
        events = [e for e in events if e["type"] == "event"]
        scores = event_scores(events, segments, iou=0.5)
        figures = {
            "windows": summaries[hop].windows,
            "window_top1": window_accuracy(work / f"{hop}.jsonl", segments),
            "frame_accuracy": frame_accuracy(events, segments, num_frames, args.fps),
            **{f"event_{k}": v for k, v in scores.items()},
            "x_realtime": args.duration / median[hop],
            "decode_share": median["decode only"] / median[hop],
            "seconds": times[hop],
        }
        results["hops"][hop] = figures
        rows.append([hop, figures["windows"], f"{100 * figures['window_top1']:.1f}",
                     f"{100 * figures['frame_accuracy']:.1f}", f"{figures['event_precision']:.2f}",
                     f"{figures['event_recall']:.2f}", f"{figures['event_f1']:.2f}",
                     f"{figures['x_realtime']:.1f}x", f"{100 * figures['decode_share']:.0f} %"])
    print(f"\n{args.duration:.0f} s of generated night video ({num_frames} frames at {args.fps} fps, "
          f"{results['video']['actions']} actions), {args.threads} threads; decoding alone runs at "
          f"{results['decode_only_x_realtime']:.1f}x real time\n")
    header = ["hop", "windows", "window top-1 %", "frame acc. %", "event P", "event R", "event F1 @0.5",
              "x real time", "decode share"]
    return report(args.out, results, header, rows)


if __name__ == "__main__":
    main()
