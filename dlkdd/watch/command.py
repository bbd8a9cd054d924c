"""`dlkdd watch`: night footage in, events out. Sliding windows of the model's own clip over a long
recording, a folder of recordings or a live stream: a timeline, events, alerts, an annotated video.

  dlkdd watch night.mp4 --ckpt_path runs/synthetic/distill/checkpoints/best.ckpt
  dlkdd watch recordings/ --ckpt_path best.ckpt --output_dir watch_out           (one set per file)
  torchrun --standalone --nproc_per_node 2 -m dlkdd watch recordings/ --ckpt_path best.ckpt
                                               (an archive shared out over 2 processes; srun works too)
  dlkdd watch night.mp4 --ckpt_path best.ckpt --video --video_enhancer gic --hop 8f --smooth 3
  dlkdd watch night.mp4 --ckpt_path best.ckpt --settings event_settings.json   (from `dlkdd calibrate`)
  dlkdd watch rtsp://camera.local/stream --model_file student.onnx --alert approach,recede \\
      --alert_threshold 0.8 --alert_min_duration 2 --alert_cooldown 60 | ./page-the-guard

Writes, in --output_dir, NAME.timeline.csv (one row per window: start, end, wall clock when known, top-k
classes and probabilities), NAME.events.jsonl (events and alerts) and, with --video, NAME.annotated.mp4,
then NAME.summary.json (a folder's recordings keep their subfolders in NAME; a recording whose summary
is there is complete and skipped on a rerun). Alerts also go to stdout, one JSON line each. A live
source (URL, /dev/video*, a pipe or FIFO) is never fallen behind: frames are dropped at the decoder when
the model is slower than the stream, and latency and the real-time factor are printed. Ctrl-C stops with
every file complete. A clock that jumps (a camera restarting, concatenated segments, the MPEG-TS wrap) is
counted, marked in the events file, and the timeline goes on; `--live off` reads a pipe in full
(docs/streams.md).

No action: a model with the reserved `background` class gives it its probability; any model's windows
whose top action probability is under --open_set_threshold are "no confident action". The event
settings come from, in turn: the options given here, the --settings file of `dlkdd calibrate`, the
model file's own calibrated settings (`dlkdd calibrate --into_checkpoint`), the defaults.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import sys
import threading
import time
from pathlib import Path

from tqdm import tqdm

from dlkdd.enhance import create_enhancer
from dlkdd.inference import load_clip_model
from dlkdd.watch.archive import gather, is_complete, join_process_group, total_line, write_summary
from dlkdd.watch.calibrate import SETTINGS_KEYS, read_settings
from dlkdd.watch.pipeline import Summary, WatchOptions, watch
from dlkdd.watch.source import is_live, list_recordings


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dlkdd watch", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", metavar="SOURCE", help="a video file, a folder of videos, or a live stream")
    model = p.add_mutually_exclusive_group(required=True)
    model.add_argument("--ckpt_path", "--model_file", dest="model_file", type=Path,
                       help="the model: a `dlkdd fit` checkpoint (.ckpt) or an exported model file")
    p.add_argument("--device", default="cpu", help="where the model runs (cpu, cuda, cuda:1)")
    p.add_argument("--output_dir", type=Path, default=Path("watch"), help="where the files go")
    p.add_argument("--name", default=None, help="file name stem (default: the video's; 'live' for a stream)")
    p.add_argument("--timeline", choices=("csv", "jsonl", "none"), default="csv", help="timeline format")
    p.add_argument("--no_events", action="store_true", help="write no events file")
    p.add_argument("--video", action="store_true", help="also write the annotated mp4")
    p.add_argument("--video_enhancer", default=None, help="brighten the annotated video (e.g. gic, clahe)")
    p.add_argument("--video_enhancer_options", type=json.loads, default={},
                   help='its options as JSON, e.g. \'{"gamma": 3.0}\'')
    o = WatchOptions()
    # Event settings default to None: "not given here", so a --settings file or the model's own apply.
    p.add_argument("--settings", type=Path, default=None,
                   help="event settings written by `dlkdd calibrate` (overridden by the options given here)")
    p.add_argument("--hop", default=None,
                   help=f"between window starts: seconds (0.5, 0.5s) or frames (4f); default {o.hop}")
    p.add_argument("--batch_size", type=int, default=o.batch_size, help="windows per forward pass")
    p.add_argument("--smooth", type=int, default=None,
                   help=f"average the last N windows (1: none); default {o.smooth}")
    p.add_argument("--top_k", type=int, default=o.top_k, help="classes per timeline row and on the video")
    p.add_argument("--event_enter", type=float, default=None,
                   help=f"probability that opens an event; default {o.event_enter}")
    p.add_argument("--event_exit", type=float, default=None,
                   help=f"probability under which it ends; default {o.event_exit}")
    p.add_argument("--min_event", type=float, default=None,
                   help=f"shortest event kept, seconds; default {o.min_event}")
    p.add_argument("--open_set_threshold", type=float, default=None,
                   help="top action probability under which a window is 'no confident action' "
                   f"(0: off); default {o.open_set_threshold}")
    p.add_argument("--alert", type=lambda s: [c for c in s.split(",") if c], default=[],
                   help="classes to alert on, comma separated")
    p.add_argument("--alert_threshold", type=float, default=o.alert_threshold)
    p.add_argument("--alert_min_duration", type=float, default=o.alert_min_duration, help="seconds")
    p.add_argument("--alert_cooldown", type=float, default=o.alert_cooldown, help="seconds")
    p.add_argument("--live", choices=("auto", "on", "off"), default="auto",
                   help="treat SOURCE as live (drop frames rather than fall behind); "
                   "auto: URLs, devices, pipes")
    p.add_argument("--reconnect", type=int, default=o.reconnect, help="reopen a dropped live stream N times")
    p.add_argument("--reconnect_delay", type=float, default=o.reconnect_delay, help="seconds")
    p.add_argument("--timeout", type=float, default=o.timeout,
                   help="seconds without data before a network source counts as lost (then reconnect)")
    p.add_argument("--status_every", type=float, default=o.status_every,
                   help="seconds between live latency lines on stderr (0: none)")
    return p


def _stem(source: str) -> str:
    if source == "-":
        return "stdin"
    if is_live(source) and not Path(source).is_file():
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", source.split("://")[-1]).strip("_") or "live"
    return Path(source).stem


EVENT_OPTIONS = ("hop", *SETTINGS_KEYS)


def event_settings(args: argparse.Namespace, carried: dict) -> dict:
    """hop and the event settings: each from the command line, else --settings, else the model file's
    calibrated ones, else WatchOptions' defaults; says on stderr where they came from when not the
    defaults."""
    from_file = read_settings(args.settings) if args.settings is not None else {}
    defaults = WatchOptions()
    settings, origin = {}, {}
    for key in EVENT_OPTIONS:
        for where, values in (("option", vars(args)), ("--settings", from_file), ("model", carried)):
            if values.get(key) is not None:
                settings[key], origin[key] = values[key], where
                break
        else:
            settings[key] = getattr(defaults, key)
    settings["smooth"] = int(settings["smooth"])
    if any(where != "option" for where in origin.values()):
        print("event settings: " + ", ".join(f"{k}={settings[k]}" + (f" ({origin[k]})" if k in origin else "")
                                             for k in EVENT_OPTIONS), file=sys.stderr)
    return settings


def main(argv: list[str] | None = None) -> list[Summary]:
    args = build_parser().parse_args(argv)
    if not args.model_file.is_file():
        raise FileNotFoundError(f"--ckpt_path {args.model_file}: no such file. Pass the checkpoint "
                                "`dlkdd fit` "
                                "wrote (runs/synthetic/distill/checkpoints/best.ckpt) or an exported model.")
    folder = Path(args.source)
    if folder.is_dir():
        recordings = list_recordings(folder)
        if not recordings:
            raise FileNotFoundError(f"SOURCE {folder}: a folder with no video files in it (.mp4, .avi, ...)")
        # Named by their path below the folder: cam1/0101.mp4 and cam2/0101.mp4 never share a file.
        names = {str(p): str(p.relative_to(folder).with_suffix("")) for p in recordings}
        share = join_process_group()
        sources = [str(p) for p in share.of(recordings)]
    elif is_live(args.source) or folder.is_file():
        sources, share = [args.source], join_process_group()
        names = {args.source: args.name or _stem(args.source)}
    else:
        raise FileNotFoundError(f"SOURCE {args.source}: no such file or folder. Pass a video, a folder of "
                                "videos or a stream URL (rtsp://, http(s)://), /dev/video0 or a FIFO.")
    # What decides a recording's outputs: a rerun with other settings or another model redoes it.
    unrelated = ("source", "output_dir", "device", "status_every")
    job = {k: str(v) for k, v in sorted(vars(args).items()) if k not in unrelated}
    job["model_bytes"] = str(args.model_file.stat().st_size)
    done = [s for s in sources if folder.is_dir() and is_complete(args.output_dir, names[s], job)]
    skipped, sources = [names[s] for s in done], [s for s in sources if s not in done]
    model = load_clip_model(args.model_file, args.device)
    settings = event_settings(args, model.spec.event_settings)
    enhancer = (create_enhancer(args.video_enhancer, **args.video_enhancer_options).eval()
                if args.video_enhancer else None)

    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())  # finish the files, then stop
    summaries = []
    began = time.monotonic()
    try:
        bar = tqdm(sources, desc="recordings", unit="file", file=sys.stderr, disable=len(sources) < 2)
        for source in bar:
            name, out = names[source], args.output_dir
            options = WatchOptions(
                batch_size=args.batch_size, top_k=args.top_k, **settings,
                alert=args.alert, alert_threshold=args.alert_threshold,
                alert_min_duration=args.alert_min_duration, alert_cooldown=args.alert_cooldown,
                timeline=None if args.timeline == "none" else out / f"{name}.timeline.{args.timeline}",
                events=None if args.no_events else out / f"{name}.events.jsonl",
                video=out / f"{name}.annotated.mp4" if args.video else None, video_enhancer=enhancer,
                live={"auto": None, "on": True, "off": False}[args.live], reconnect=args.reconnect,
                reconnect_delay=args.reconnect_delay, timeout=args.timeout, status_every=args.status_every)
            summary = watch(source, model, options, stop)
            summaries.append(summary)
            tqdm.write(summary.line(), file=sys.stderr)
            if stop.is_set():
                break
            if not summary.live:  # a file watched to its end: its outputs are complete
                write_summary(out, name, summary, job)
    finally:
        signal.signal(signal.SIGINT, previous)
    gathered = gather(share, summaries, skipped)
    if gathered is not None and (share.world_size > 1 or skipped):
        print(total_line(*gathered, share.world_size, time.monotonic() - began), file=sys.stderr)
    if share.rank == 0:
        print(f"wrote {args.output_dir}/", file=sys.stderr)
    return summaries
