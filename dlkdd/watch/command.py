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
  dlkdd watch rtsp://gate/stream rtsp://yard/stream --ckpt_path best.ckpt    (one model, windows batched)
  dlkdd watch --sources cameras.yaml --ckpt_path best.ckpt --batch_size 16 --batch_wait 0.05

Writes, in --output_dir, NAME.timeline.csv (one row per window: start, end, wall clock when known, top-k
classes and probabilities), NAME.events.jsonl (events and alerts) and, with --video, NAME.annotated.mp4,
then NAME.summary.json (a folder's recordings keep their subfolders in NAME; a recording whose summary
is there is complete and skipped on a rerun). Alerts also go to stdout, one JSON line each. A live
source (URL, /dev/video*, a pipe or FIFO) is never fallen behind: frames are dropped at the decoder when
the model is slower than the stream, and latency and the real-time factor are printed. Ctrl-C stops with
every file complete. A clock that jumps (a camera restarting, concatenated segments, the MPEG-TS wrap) is
counted, marked in the events file, and the timeline goes on; `--live off` reads a pipe in full
(docs/guides/streams.md).

Several live sources (SOURCE SOURCE ... or --sources FILE, a YAML/JSON list of name, url and alert
settings) are followed by one process and one model: each has its own decoder, files (named by the
stream), status lines and summary; the windows every stream has ready go through the model together, as
soon as --batch_size are ready or the oldest waited --batch_wait seconds. A dead stream ends only itself.
Several files go one after another, as a folder's (docs/guides/many-cameras.md).

No action: a model with the reserved `background` class gives it its probability; any model's windows
whose top action probability is under --open_set_threshold are "no confident action". The event
settings come from, in turn: the options given here, the --settings file of `dlkdd calibrate`, the
model file's own calibrated settings (`dlkdd calibrate --into_checkpoint`), the defaults.
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import yaml
from tqdm import tqdm

from dlkdd.enhance import create_enhancer
from dlkdd.inference import load_clip_model
from dlkdd.parse_errors import CommandParser, add_model_options, model_path
from dlkdd.video import list_videos
from dlkdd.watch.archive import gather, is_complete, join_process_group, total_line, write_summary
from dlkdd.watch.calibrate import SETTINGS_KEYS, read_settings
from dlkdd.watch.multiplex import Camera, watch_many
from dlkdd.watch.pipeline import Summary, WatchOptions, watch
from dlkdd.watch.source import is_live

# WatchOptions' fields that are options of `dlkdd watch` as they are (their help is the dataclass's own).
# The rest are said otherwise here: files named by --output_dir (timeline, events, video), an enhancer by
# name, --live auto/on/off, --alert comma separated.
CLI_FIELDS = ("hop", "batch_size", "smooth", "top_k", "event_enter", "event_exit", "min_event",
              "open_set_threshold", "alert_threshold", "alert_min_duration", "alert_cooldown", "reconnect",
              "reconnect_delay", "timeout", "status_every")


def comma_list(text: str | list[str]) -> list[str]:
    """`--alert approach,recede` (jsonargparse checks a parsed value again: a list passes as it is)."""
    return text if isinstance(text, list) else [c for c in text.split(",") if c]


def build_parser() -> CommandParser:
    p = CommandParser(prog="dlkdd watch", description=__doc__)
    p.add_argument("source", metavar="SOURCE", nargs="*", default=[],
                   help="a video file, a folder of videos, or a live stream; several live streams are "
                   "watched at once by one model (docs/guides/many-cameras.md)")
    p.add_argument("--sources", type=Path | None, default=None,
                   help="a YAML or JSON list of live sources: name, url and their own alert settings")
    add_model_options(p)
    p.add_argument("--device", default="cpu", help="where the model runs (cpu, cuda, cuda:1)")
    p.add_argument("--output_dir", type=Path, default=Path("watch"), help="where the files go")
    p.add_argument("--name", type=str | None, default=None,
                   help="file name stem (default: the video's; 'live' for a stream)")
    p.add_argument("--timeline", choices=("csv", "jsonl", "none"), default="csv", help="timeline format")
    p.add_argument("--no_events", action="store_true", help="write no events file")
    p.add_argument("--video", action="store_true", help="also write the annotated mp4")
    p.add_argument("--video_enhancer", type=str | None, default=None,
                   help="brighten the annotated video (e.g. gic, clahe)")
    p.add_argument("--video_enhancer_options", type=dict[str, Any], default={},
                   help='its options as JSON, e.g. \'{"gamma": 3.0}\'')
    p.add_argument("--settings", type=Path | None, default=None,
                   help="event settings written by `dlkdd calibrate` (overridden by the options given here)")
    p.add_class_arguments(WatchOptions, None, skip=set(WatchOptions.__dataclass_fields__) - set(CLI_FIELDS))
    # Event settings not given here are None, so a --settings file or the model's own apply before the
    # dataclass defaults (event_settings).
    defaults = WatchOptions()
    for action in p._actions:
        if action.dest in EVENT_OPTIONS:
            action.help += (f"; not given: the --settings file's, else the model file's, else "
                            f"{getattr(defaults, action.dest)}")
    p.set_defaults({key: None for key in EVENT_OPTIONS})
    p.add_argument("--batch_wait", type=float, default=0.05,
                   help="several live sources: seconds a ready window waits for others to fill its batch")
    p.add_argument("--alert", type=comma_list, default=[], help="classes to alert on, comma separated")
    p.add_argument("--live", choices=("auto", "on", "off"), default="auto",
                   help="treat SOURCE as live (drop frames rather than fall behind); "
                   "auto: URLs, devices, pipes")
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
    args.model_file = model_path(args)
    del args.ckpt_path  # one model file from here on (and the rerun settings below as they were)
    cameras = read_sources(args.sources) if args.sources is not None else []
    cameras += [{"url": source} for source in args.source]
    if not cameras:
        raise ValueError("SOURCE: give a video, a folder of videos, a stream URL, or --sources FILE")
    live = {"auto": None, "on": True, "off": False}[args.live]
    if len(cameras) > 1 and any(is_live(c["url"]) if live is None else live for c in cameras):
        return watch_cameras(args, cameras, live)
    share = join_process_group()  # rank 0 of 1 unless torchrun or srun launched this process
    if len(cameras) > 1:  # files: one after another, as a folder's (share.of spreads them over ranks)
        for camera in cameras:
            if not Path(camera["url"]).is_file():
                raise FileNotFoundError(f"SOURCE {camera['url']}: no such file. Several SOURCEs are video "
                                        "files or live streams.")
        names = dict(zip((c["url"] for c in cameras), _names(cameras), strict=True))
        sources = [str(p) for p in share.of([Path(c["url"]) for c in cameras])]
        folder = None
    elif Path(cameras[0]["url"]).is_dir():
        folder = Path(cameras[0]["url"])
        recordings = list_videos(folder)
        if not recordings:
            raise FileNotFoundError(f"SOURCE {folder}: a folder with no video files in it (.mp4, .avi, ...)")
        # Named by their path below the folder: cam1/0101.mp4 and cam2/0101.mp4 never share a file.
        names = {str(p): str(p.relative_to(folder).with_suffix("")) for p in recordings}
        sources = [str(p) for p in share.of(recordings)]
    elif is_live(cameras[0]["url"]) or Path(cameras[0]["url"]).is_file():
        source, folder = cameras[0]["url"], None
        sources = [source]
        names = {source: args.name or cameras[0].get("name") or _stem(source)}
    else:
        raise FileNotFoundError(f"SOURCE {cameras[0]['url']}: no such file or folder. Pass a video, a folder "
                                "of videos or a stream URL (rtsp://, http(s)://), /dev/video0 or a FIFO.")
    archive = folder is not None or len(cameras) > 1
    owns = {c["url"]: {key: c[key] for key in SOURCE_KEYS[2:] if key in c} for c in cameras}
    # What decides a recording's outputs: a rerun with other settings or another model redoes it.
    unrelated = ("source", "sources", "output_dir", "device", "status_every", "batch_wait")
    job = {k: str(v) for k, v in sorted(vars(args).items()) if k not in unrelated}
    job["model_bytes"] = str(args.model_file.stat().st_size)
    done = [s for s in sources if archive and is_complete(args.output_dir, names[s], job)]
    skipped, sources = [names[s] for s in done], [s for s in sources if s not in done]
    model, settings, enhancer = load(args)

    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())  # finish the files, then stop
    summaries = []
    began = time.monotonic()
    try:
        bar = tqdm(sources, desc="recordings", unit="file", file=sys.stderr, disable=len(sources) < 2)
        for source in bar:
            name, out = names[source], args.output_dir
            options = stream_options(args, settings, enhancer, name, {"live": live, **owns.get(source, {})})
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


def load(args: argparse.Namespace):
    """The model, its event settings and the annotated video's enhancer."""
    model = load_clip_model(args.model_file, args.device)
    settings = event_settings(args, model.spec.event_settings)
    enhancer = (create_enhancer(args.video_enhancer, **args.video_enhancer_options).eval()
                if args.video_enhancer else None)
    return model, settings, enhancer


def stream_options(args: argparse.Namespace, settings: dict, enhancer, name: str, own: dict) -> WatchOptions:
    """One source's options: the command line's, its files named `name` in --output_dir, and `own`
    (a sources file's per-stream settings)."""
    out = args.output_dir
    options = {
        "batch_size": args.batch_size, "top_k": args.top_k, **settings,
        "alert": args.alert, "alert_threshold": args.alert_threshold,
        "alert_min_duration": args.alert_min_duration, "alert_cooldown": args.alert_cooldown,
        "timeline": None if args.timeline == "none" else out / f"{name}.timeline.{args.timeline}",
        "events": None if args.no_events else out / f"{name}.events.jsonl",
        "video": out / f"{name}.annotated.mp4" if args.video else None, "video_enhancer": enhancer,
        "reconnect": args.reconnect, "reconnect_delay": args.reconnect_delay, "timeout": args.timeout,
        "status_every": args.status_every}
    return WatchOptions(**{**options, **own})


SOURCE_KEYS = ("name", "url", "alert", "alert_threshold", "alert_min_duration", "alert_cooldown")


def read_sources(path: Path) -> list[dict]:
    """--sources FILE: a YAML (or JSON) list of {url, name, alert settings}."""
    example = "e.g. [{name: gate, url: rtsp://10.0.0.5/stream, alert: [approach]}]"
    if not path.is_file():
        raise FileNotFoundError(f"--sources {path}: no such file. Write a YAML or JSON list of sources, "
                                f"{example}")
    try:
        entries = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ValueError(f"--sources {path}: not YAML or JSON ({err}). Write a list of sources, "
                         f"{example}") from None
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"--sources {path}: not a list of sources. Write one, {example}")
    cameras = []
    for k, entry in enumerate(entries):
        entry = {"url": entry} if isinstance(entry, str) else entry
        if not isinstance(entry, dict) or "url" not in entry:
            raise ValueError(f"--sources {path}: entry {k + 1} has no url. Give each source a url, {example}")
        unknown = sorted(set(entry) - set(SOURCE_KEYS))
        if unknown:
            raise ValueError(f"--sources {path}: entry {k + 1} ({entry['url']}) has {', '.join(unknown)}: "
                             f"the keys a source takes are {', '.join(SOURCE_KEYS)}")
        entry = {key: str(value) if key in ("name", "url") else value for key, value in entry.items()}
        if isinstance(entry.get("alert"), str):
            entry["alert"] = [c for c in entry["alert"].split(",") if c]
        cameras.append(entry)
    return cameras


def _names(cameras: list[dict]) -> list[str]:
    """Each source's file name stem: its given name, else its own; two alike are an error."""
    names = [c.get("name") or _stem(c["url"]) for c in cameras]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"SOURCE: two sources would both be named {', '.join(twice)} (their files would "
                         "collide): name them in a --sources file")
    return names


def watch_cameras(args: argparse.Namespace, cameras: list[dict], live: bool | None) -> list[Summary]:
    """Several live sources at once, one model: each its own files, status lines and summary."""
    if args.name:
        raise ValueError("--name: names one source; with several, name them in a --sources file")
    names = _names(cameras)
    model, settings, enhancer = load(args)
    streams = []
    for camera, name in zip(cameras, names, strict=True):
        own = {key: camera[key] for key in SOURCE_KEYS[2:] if key in camera}
        streams.append(Camera(camera["url"], name,
                              stream_options(args, settings, enhancer, name, {"live": live, **own})))
    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())  # finish the files, then stop
    try:
        summaries = watch_many(streams, model, args.batch_size, args.batch_wait, stop)
    finally:
        signal.signal(signal.SIGINT, previous)
    for summary in summaries:
        print(summary.line(), file=sys.stderr)
    print(f"wrote {args.output_dir}/", file=sys.stderr)
    return summaries
