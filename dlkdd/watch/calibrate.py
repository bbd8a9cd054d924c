"""`dlkdd calibrate`: the event settings of `dlkdd watch` that maximise event F1 on annotated recordings.

  dlkdd calibrate night1.mp4 night2.mp4 --ckpt_path best.ckpt --output event_settings.json
  dlkdd watch night3.mp4 --ckpt_path best.ckpt --settings event_settings.json
  dlkdd calibrate night1.mp4 --ckpt_path best.ckpt --into_checkpoint    (the checkpoint carries them;
      `dlkdd export` then writes them into the exported file's metadata, and `watch` uses them)

Each recording's annotations are the JSON beside it (RECORDING.json, as dlkdd.synthetic.recordings
writes: {"segments": [{"class", "start", "end"}, ...], "num_frames"}). A recording with no action (its
segments' classes all null, or no segments: an empty night) is an *empty* one. The model runs ONCE per
recording, at --hop; then every setting of the grid (event_enter, event_exit, min_event, smooth,
open_set_threshold) is replayed on the cached window probabilities with the same no-action decision,
smoothing and event tracker `watch` uses. The objective: the best event F1 at tIoU 0.5, pooled over the
recordings with actions, among the settings whose false alarms per hour on the empty recordings (every
event there is one) stay within --max_false_alarms; when no setting does, the fewest false alarms per
hour, then the best F1 (ties: fewer events). Without empty recordings it is the best F1 alone. The
figures at the defaults and at the chosen settings are printed side by side.
"""

from __future__ import annotations

import itertools
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

import dlkdd
from dlkdd.checkpointing import read_checkpoint, save_atomically
from dlkdd.data.sources import background_index
from dlkdd.inference import ClipModel, load_clip_model
from dlkdd.parse_errors import CommandParser, add_model_options, model_path
from dlkdd.watch.events import EventTracker, NoAction
from dlkdd.watch.pipeline import WatchOptions, watch
from dlkdd.watch.scoring import detection_report, event_scores
from dlkdd.watch.smoothing import moving_average

SETTINGS_KEYS = ("event_enter", "event_exit", "min_event", "smooth", "open_set_threshold")
GRID = {
    "event_enter": (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
    "exit_ratio": (0.5, 0.7, 0.85, 1.0),  # event_exit = ratio x event_enter (exit <= enter)
    "min_event": (0.0, 0.5, 1.0, 1.5, 2.0, 3.0),
    "smooth": (1, 2, 3, 5, 8),
    "open_set_threshold": (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8),
}


def default_settings() -> dict:
    options = WatchOptions()
    return {key: getattr(options, key) for key in SETTINGS_KEYS}


@dataclass
class Recording:
    """One annotated recording's windows, as the model saw them once."""

    name: str
    cells: list[tuple[float, float]]  # the stretch of time each window speaks for
    probs: Tensor  # (W, K) the model's own window probabilities, unsmoothed
    segments: list[dict]  # the annotations
    num_frames: int
    fps: float

    @property
    def empty(self) -> bool:
        """No action annotated: an empty night, where every event is a false alarm."""
        return all(s["class"] is None for s in self.segments)

    @property
    def hours(self) -> float:
        return self.num_frames / self.fps / 3600


def read_annotations(path: Path) -> dict:
    # The errors are raised outside the `except`, so `dlkdd: error:` prints them, not their cause.
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no annotations beside the recording. Write them as "
                                "dlkdd.synthetic.recordings does (RECORDING.json) or pass --annotations.")
    problem = None
    try:
        annotations = json.loads(path.read_text())
        segments, num_frames = annotations["segments"], int(annotations["num_frames"])
        fps = float(annotations.get("config", {}).get("fps") or annotations["fps"])
        for s in segments:
            float(s["start"]), float(s["end"]), s["class"]  # noqa: B018  (each segment has its fields)
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        problem = f"{type(err).__name__}: {err}"
    if problem is not None:
        raise ValueError(f"{path}: not a recording's annotations ({problem}); expected "
                         '{"segments": [{"class": NAME or null, "start": s, "end": s}, ...], '
                         '"num_frames": N, "fps": F} as dlkdd.synthetic.recordings writes.')
    return {"segments": segments, "num_frames": num_frames, "fps": fps}


def observe(video: Path, annotations: Path, model: ClipModel, hop: str, batch_size: int = 8) -> Recording:
    """Run the model over the recording once (the watch pipeline, no files) and keep every window."""
    truth = read_annotations(annotations)
    cells, probs = [], []

    def keep(window, p: Tensor) -> None:
        cells.append(window.cell)
        probs.append(p)

    watch(video, model, WatchOptions(hop=hop, batch_size=batch_size, live=False, on_window=keep),
          log=lambda _: None)
    names = model.spec.class_names
    unknown = sorted({s["class"] for s in truth["segments"] if s["class"] is not None} - set(names))
    if unknown:
        raise ValueError(f"{annotations}: annotated classes {', '.join(unknown)} are not the model's "
                         f"({', '.join(names)}); calibrate on recordings of the classes it was trained on.")
    return Recording(video.name, cells, torch.stack(probs) if probs else torch.zeros(0, len(names)),
                     truth["segments"], truth["num_frames"], truth["fps"])


def _events(recording: Recording, actions: Tensor, names: list[str], enter: float,
            exit_: float) -> list[dict]:
    """Events of the tracker `watch` runs, on precomputed action probabilities; min_event 0 (applied
    later: it only drops closed events, it does not change the tracker's course)."""
    tracker, events = EventTracker(names, enter, exit_, 0.0), []
    rows = actions.numpy()
    for cell, row in zip(recording.cells, rows, strict=True):
        events += tracker.update(cell, row)
    return events + tracker.finish()


def replay(recording: Recording, settings: dict, names: list[str]) -> list[dict]:
    """The events `dlkdd watch` gives with `settings` (up to float rounding), from cached probabilities."""
    gate = NoAction(background_index(names), settings["open_set_threshold"])
    actions = moving_average(gate(recording.probs), settings["smooth"])
    events = _events(recording, actions, names, settings["event_enter"], settings["event_exit"])
    return [e for e in events if e["duration"] >= settings["min_event"] - 1e-9]


def pooled_f1(results: list[tuple[list[dict], Recording]]) -> tuple[float, int]:
    """Event F1 at tIoU 0.5 over all recordings together, and the number of events predicted."""
    matched = predicted = annotated = 0
    for events, recording in results:
        scores = event_scores(events, recording.segments, 0.5)
        matched, predicted, annotated = (matched + scores["matched"], predicted + scores["predicted"],
                                         annotated + scores["annotated"])
    precision = matched / predicted if predicted else 0.0
    recall = matched / annotated if annotated else 0.0
    return (2 * precision * recall / (precision + recall) if precision + recall else 0.0), predicted


def _split(recordings: list[Recording]) -> tuple[list[Recording], list[Recording]]:
    """(the recordings with actions, the empty ones)."""
    annotated = [r for r in recordings if not r.empty]
    if not annotated:
        raise ValueError(f"{', '.join(r.name for r in recordings)}: no annotated action in any recording; "
                         "calibrate on at least one recording with actions (empty nights only bound the "
                         "false alarms).")
    return annotated, [r for r in recordings if r.empty]


def _objective(results: list[tuple[list[dict], Recording]], max_false_alarms: float) -> tuple:
    """The search's key, greater is better: within the false-alarm budget on the empty recordings, the
    pooled F1 of the others; outside it, the fewest false alarms per hour first."""
    f1, predicted = pooled_f1([(events, r) for events, r in results if not r.empty])
    empty = [(events, r) for events, r in results if r.empty]
    hours = sum(r.hours for _, r in empty)
    alarms = sum(len(events) for events, _ in empty) / hours if hours else 0.0
    within = alarms <= max_false_alarms + 1e-9
    return (within, f1, -alarms, -predicted) if within else (within, -alarms, f1, -predicted)


def search(recordings: list[Recording], names: list[str], grid: dict = GRID,
           max_false_alarms: float = 1.0) -> dict:
    """The grid's best settings: pooled event F1 at tIoU 0.5 on the recordings with actions, subject to
    at most `max_false_alarms` per hour on the empty ones (_objective; ties: fewer events, then the
    earlier setting of the grid, which lists the milder values first)."""
    _split(recordings)
    best, best_key = None, None
    background = background_index(names)
    for open_set, smooth in itertools.product(grid["open_set_threshold"], grid["smooth"]):
        gate = NoAction(background, open_set)
        actions = [moving_average(gate(r.probs), smooth) for r in recordings]
        for enter, ratio in itertools.product(grid["event_enter"], grid["exit_ratio"]):
            raw = [_events(r, a, names, enter, ratio * enter)
                   for r, a in zip(recordings, actions, strict=True)]
            for min_event in grid["min_event"]:
                kept = [([e for e in events if e["duration"] >= min_event - 1e-9], r)
                        for events, r in zip(raw, recordings, strict=True)]
                key = _objective(kept, max_false_alarms)
                if best_key is None or key > best_key:
                    best_key = key
                    best = {"event_enter": enter, "event_exit": round(ratio * enter, 4),
                            "min_event": min_event, "smooth": smooth, "open_set_threshold": open_set}
    return best


def figures(recordings: list[Recording], settings: dict, names: list[str]) -> dict:
    """detection_report per recording and pooled (events and footage of all recordings together; the
    F1 over the recordings with actions when there are some, the false alarms on the empty ones too)."""
    events = {r.name: replay(r, settings, names) for r in recordings}
    per = {r.name: detection_report(events[r.name], r.segments, r.num_frames, r.fps) for r in recordings}
    annotated = [r for r in recordings if not r.empty] or recordings
    f1, _ = pooled_f1([(events[r.name], r) for r in annotated])
    hours = sum(p["hours"] for p in per.values())
    false_alarms = sum(p["event_predicted"] - p["event_matched"] for p in per.values())
    empty_hours = sum(r.hours for r in recordings if r.empty)
    pooled = {"event_f1": f1, "events": sum(p["event_predicted"] for p in per.values()),
              "false_alarms_per_hour": false_alarms / hours if hours else 0.0}
    if empty_hours:
        pooled["empty_false_alarms_per_hour"] = sum(len(events[r.name]) for r in recordings
                                                    if r.empty) / empty_hours
    return {"pooled": pooled, "recordings": per}


def read_settings(path: Path) -> dict:
    """The event settings a calibration wrote (its "event_settings", and the "hop" it ran at), checked."""
    if not path.is_file():
        raise FileNotFoundError(f"--settings {path}: no such file. Write one with `dlkdd calibrate "
                                f"RECORDING --ckpt_path MODEL --output {path}`.")
    problem = None
    try:
        written = json.loads(path.read_text())
        values = {key: float(written["event_settings"][key]) for key in SETTINGS_KEYS}
        if written.get("hop"):
            values["hop"] = str(written["hop"])
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        problem = f"{type(err).__name__}: {err}"
    if problem is not None:  # raised outside the `except`, so `dlkdd: error:` prints it, not its cause
        raise ValueError(f"--settings {path}: not a file `dlkdd calibrate` wrote ({problem}); it needs "
                         f"\"event_settings\" with {', '.join(SETTINGS_KEYS)}.")
    values["smooth"] = int(values["smooth"])
    return values


def _row(name: str, f: dict) -> str:
    return (f"{name:<12} {f['event_precision']:6.2f} {f['event_recall']:6.2f} {f['event_f1']:6.2f} "
            f"{f['map@0.3']:7.2f} {f['map@0.5']:7.2f} {f['map@0.7']:7.2f} {100 * f['frame_accuracy']:8.1f} "
            f"{f['event_predicted']:7d} {f['false_alarms_per_hour']:9.1f}")


def build_parser() -> CommandParser:
    p = CommandParser(prog="dlkdd calibrate", description=__doc__)
    p.add_argument("recordings", nargs="+", type=Path, metavar="RECORDING", help="annotated recordings")
    add_model_options(p)
    p.add_argument("--annotations", nargs="+", type=Path, default=None,
                   help="each recording's annotations, in order (default: RECORDING.json beside it)")
    p.add_argument("--hop", type=str, default=WatchOptions.hop,
                   help="the hop `watch` will run at (the settings depend on it; written with them)")
    p.add_argument("--batch_size", type=int, default=WatchOptions.batch_size, help="windows per forward pass")
    p.add_argument("--device", default="cpu", help="where the model runs (cpu, cuda, cuda:1)")
    p.add_argument("--max_false_alarms", type=float, default=1.0,
                   help="false alarms per hour allowed on the empty recordings (those with no action); "
                        "the F1 is maximised within it (default 1, a guard's budget)")
    p.add_argument("--output", type=Path, default=Path("event_settings.json"), help="the settings file")
    p.add_argument("--into_checkpoint", action="store_true",
                   help="also store the settings in --ckpt_path (a .ckpt), so it and its exports carry them")
    return p


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    args.model_file = model_path(args)
    if args.into_checkpoint and args.model_file.suffix != ".ckpt":
        raise ValueError(f"--into_checkpoint: {args.model_file} is not a .ckpt; calibrate the checkpoint "
                         "(--ckpt_path), then `dlkdd export` it (the exported file carries its settings).")
    annotations = args.annotations or [Path(str(r) + ".json") for r in args.recordings]
    if len(annotations) != len(args.recordings):
        raise ValueError(f"--annotations: {len(annotations)} files for {len(args.recordings)} recordings; "
                         "give one per recording, in the same order.")
    for recording in args.recordings:
        if not recording.is_file():
            raise FileNotFoundError(f"RECORDING {recording}: no such file. Pass annotated recordings (video "
                                    "files with their annotations in RECORDING.json, or --annotations).")
    if args.max_false_alarms < 0:
        raise ValueError(f"--max_false_alarms {args.max_false_alarms}: false alarms per hour are >= 0; "
                         "pass e.g. --max_false_alarms 1.")
    model = load_clip_model(args.model_file, args.device)
    names = list(model.spec.class_names)
    recordings = []
    for video, notes in zip(args.recordings, annotations, strict=True):
        recordings.append(observe(video, notes, model, args.hop, args.batch_size))
        print(f"{video}: {len(recordings[-1].cells)} windows", file=sys.stderr)
    defaults = default_settings()
    _split(recordings)  # before the search: a word, not a traceback, when no recording has actions
    chosen = search(recordings, names, max_false_alarms=args.max_false_alarms)
    before, after = figures(recordings, defaults, names), figures(recordings, chosen, names)
    print("settings     " + "  ".join(f"{k}={defaults[k]}->{chosen[k]}" for k in SETTINGS_KEYS))
    print(f"{'':<12} {'P':>6} {'R':>6} {'F1':>6} {'mAP.3':>7} {'mAP.5':>7} {'mAP.7':>7} {'frame %':>8} "
          f"{'events':>7} {'FA/hour':>9}   (event P/R/F1 at tIoU 0.5)")
    for name in before["recordings"]:
        print(name)
        print(_row("  defaults", before["recordings"][name]))
        print(_row("  calibrated", after["recordings"][name]))
    result = {"event_settings": chosen, "hop": args.hop, "model": str(args.model_file),
              "recordings": [str(r) for r in args.recordings],
              "max_false_alarms": args.max_false_alarms, "dlkdd_version": dlkdd.__version__,
              "figures": {"defaults": before, "calibrated": after}, "default_settings": defaults}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1) + "\n")
    if "empty_false_alarms_per_hour" in after["pooled"]:
        alarms = [f"{f['pooled']['empty_false_alarms_per_hour']:.1f}" for f in (before, after)]
        print(f"false alarms per hour on the empty recordings {alarms[0]} -> {alarms[1]} "
              f"(budget {args.max_false_alarms})")
    print(f"pooled event F1 {before['pooled']['event_f1']:.3f} -> {after['pooled']['event_f1']:.3f}; "
          f"wrote {args.output} (dlkdd watch ... --settings {args.output})")
    if args.into_checkpoint:
        checkpoint = read_checkpoint(args.model_file)
        checkpoint.setdefault("dlkdd", {})["event_settings"] = {**chosen, "hop": args.hop}
        save_atomically(checkpoint, args.model_file)
        print(f"stored them in {args.model_file}")
    return result

