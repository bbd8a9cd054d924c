"""Events a guard can trust, measured as the field does: `dlkdd watch` on long generated night
recordings, at the default event settings (today's) and at the settings `dlkdd calibrate` picks on
other recordings, side by side.

    python -m benchmarks.events --ckpt_path runs/synthetic/events_distill/checkpoints/best.ckpt \\
        --duration 3600 --max_false_alarms 0.5 1 10 --empty_seeds 3 5 6 7 8 9 --empty_tune_duration 10800 \\
        --out benchmarks/results/events_background_student.json          (docs/guides/events.md)

The recordings (dlkdd.synthetic.recordings, written once into --work and reused): a tuning one (seed
--tune_seed) and a test one (--test_seed), actions separated by gaps of --gap seconds with distractors in
half of them, and the empty nights measured on (--empty_seeds: no action, a distractor in every gap). With
--max_false_alarms, one more: an empty night for tuning (--empty_tune_seed, --empty_tune_duration), and one
more calibration per budget, on the tuning recording and that night together (F1 within the budget of
false alarms per hour on the night; `dlkdd calibrate --max_false_alarms`). The model runs once over each
(the watch pipeline: decode, windows, model), its window probabilities are kept, and events are replayed
at each setting (dlkdd.watch.calibrate). Reported on the test recording: frame accuracy (action or none),
event precision / recall / F1 at tIoU 0.5, mAP at tIoU 0.3 / 0.5 / 0.7 (THUMOS protocol), false alarms
per hour; on the empty nights, pooled: false alarms per hour (every event is one), per night, with the
95 % upper bound of the rate and what lies under each; and the real-time factor of the model's pass over
the test recording (media seconds / wall seconds).
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import torch

from benchmarks.common import markdown_table, parser, write_json
from dlkdd.inference import load_clip_model
from dlkdd.synthetic.dataset import GAP_SECONDS
from dlkdd.synthetic.recordings import LongVideoConfig, generate_long_video
from dlkdd.watch.calibrate import default_settings, figures, observe, replay, search
from dlkdd.watch.scoring import detection_report, match


def recording(work: Path, name: str, config: LongVideoConfig) -> tuple[Path, float]:
    """The recording (reused when its annotations record the same config) and the seconds it took."""
    video = work / f"{name}.mp4"
    notes = video.with_suffix(".mp4.json")
    if notes.is_file() and json.loads(notes.read_text())["config"] == json.loads(json.dumps(asdict(config))):
        return video, 0.0
    began = time.perf_counter()
    generate_long_video(video, config)
    return video, time.perf_counter() - began


def unmatched_causes(events: list[dict], segments: list[dict]) -> dict[str, int]:
    """What lies under the middle of each event that matches no annotation at tIoU 0.5: "action" (an
    annotated action: wrong class, or boundaries too far off), a distractor's kind, or "empty scene"."""
    causes: Counter[str] = Counter()
    for event, hit in zip(events, match(events, segments, 0.5), strict=True):
        if not hit:
            middle = (event["start"] + event["end"]) / 2
            under = next((s for s in segments if s["start"] <= middle < s["end"]), {})
            causes["action" if under.get("class") else under.get("distractor") or "empty scene"] += 1
    return dict(causes.most_common())


def poisson_upper95(count: int) -> float:
    """The one-sided 95 % upper confidence bound of a Poisson mean after `count` events (Garwood's exact
    bound: the rate at which `count` or fewer events have probability 0.05), e.g. 3.00 for none."""
    def at_most(rate: float) -> float:
        term = total = math.exp(-rate)
        for k in range(1, count + 1):
            term *= rate / k
            total += term
        return total

    low, high = float(count), float(count) + 10 * (count + 1) ** 0.5 + 10
    for _ in range(100):  # at_most falls as the rate grows
        middle = (low + high) / 2
        low, high = (middle, high) if at_most(middle) > 0.05 else (low, middle)
    return (low + high) / 2


def main(argv: list[str] | None = None) -> dict:
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--ckpt_path", type=Path, required=True, help="the student (a .ckpt or an exported file)")
    p.add_argument("--duration", type=float, default=3600.0, help="seconds of each recording")
    p.add_argument("--fps", type=int, default=15)
    p.add_argument("--size", type=int, nargs=2, default=[96, 128], metavar=("HEIGHT", "WIDTH"))
    p.add_argument("--gap", type=float, nargs=2, default=list(GAP_SECONDS),
                   help="seconds of no action between")
    p.add_argument("--segment", type=float, nargs=2, default=[2.0, 4.0], help="seconds of one action")
    p.add_argument("--tune_seed", type=int, default=1)
    p.add_argument("--test_seed", type=int, default=2)
    p.add_argument("--empty_seeds", type=int, nargs="+", default=[3],
                   help="the empty nights measured (an hour each at --duration 3600), pooled")
    p.add_argument("--max_false_alarms", type=float, nargs="*", default=[],
                   help="false-alarm budgets per hour: calibrate also with an empty tuning night, per budget")
    p.add_argument("--empty_tune_seed", type=int, default=4, help="the empty night calibration tunes on")
    p.add_argument("--empty_tune_duration", type=float, default=None, help="its seconds (default --duration)")
    p.add_argument("--hop", default="0.5s")
    p.add_argument("--threads", type=int, default=2, help="torch threads (the issue's 2 CPU cores)")
    p.add_argument("--work", type=Path, default=None, help="where the recordings go (reused; default: temp)")
    p.add_argument("--note", default="", help="recorded with the results (e.g. the machine's load)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    work = args.work or Path(tempfile.mkdtemp(prefix="dlkdd-events-bench-"))
    work.mkdir(parents=True, exist_ok=True)

    def config(seed: int, actions: bool = True, duration: float | None = None) -> LongVideoConfig:
        return LongVideoConfig(duration=duration or args.duration, fps=args.fps, height=args.size[0],
                               width=args.size[1], segment=tuple(args.segment), gap=tuple(args.gap),
                               seed=seed,
                               distractors=0.5 if actions else 1.0, actions=actions)

    videos, rendering = {}, {}
    # The first empty night keeps the name the earlier results used, so its file is reused.
    empty_nights = {"empty" if k == 0 else f"empty_seed{seed}": seed
                    for k, seed in enumerate(args.empty_seeds)}
    wanted = [("tune", config(args.tune_seed)), ("test", config(args.test_seed)),
              *((name, config(seed, actions=False)) for name, seed in empty_nights.items())]
    if args.max_false_alarms:
        wanted.append(("empty_tune", config(args.empty_tune_seed, False, args.empty_tune_duration)))
    for name, cfg in wanted:
        videos[name], rendering[name] = recording(work, name, cfg)
    model = load_clip_model(args.ckpt_path)
    names = list(model.spec.class_names)
    observed, wall = {}, {}
    for name, video in videos.items():
        began = time.perf_counter()
        observed[name] = observe(video, Path(str(video) + ".json"), model, args.hop)
        wall[name] = time.perf_counter() - began
        print(f"{name}: {len(observed[name].cells)} windows in {wall[name]:.0f} s", file=sys.stderr)

    began = time.perf_counter()
    settings = {"defaults": default_settings(), "calibrated": search([observed["tune"]], names)}
    for budget in args.max_false_alarms:
        settings[f"calibrated_fa{budget:g}"] = search([observed["tune"], observed["empty_tune"]], names,
                                                      max_false_alarms=budget)
    search_seconds = time.perf_counter() - began
    test, empties = observed["test"], [observed[name] for name in empty_nights]
    empty_hours = sum(e.hours for e in empties)
    results = {"settings": settings, "figures": {}}
    rows = []
    for which, chosen in settings.items():
        test_events = replay(test, chosen, names)
        on_test = detection_report(test_events, test.segments, test.num_frames, test.fps)
        per_night = [replay(e, chosen, names) for e in empties]  # there every event is a false alarm
        alarms = sum(len(events) for events in per_night)
        causes: Counter[str] = Counter()
        for events, night in zip(per_night, empties, strict=True):
            causes.update(unmatched_causes(events, night.segments))
        on_tune = figures([observed["tune"]], chosen, names)["pooled"]
        results["figures"][which] = {
            "test": on_test, "tune_event_f1": on_tune["event_f1"],
            "empty_false_alarms_per_hour": alarms / empty_hours, "empty_events": alarms,
            "empty_events_per_night": [len(events) for events in per_night],
            "empty_false_alarms_per_hour_upper95": poisson_upper95(alarms) / empty_hours,
            "test_false_alarm_causes": unmatched_causes(test_events, test.segments),
            "empty_false_alarm_causes": dict(causes.most_common())}
        if "empty_tune" in observed:
            results["figures"][which]["empty_tune_false_alarms_per_hour"] = figures(
                [observed["empty_tune"]], chosen, names)["pooled"]["false_alarms_per_hour"]
        rows.append([which, f"{100 * on_test['frame_accuracy']:.1f}", f"{on_test['event_precision']:.2f}",
                     f"{on_test['event_recall']:.2f}", f"{on_test['event_f1']:.2f}",
                     *(f"{100 * on_test[f'map@{t}']:.1f}" for t in (0.3, 0.5, 0.7)),
                     f"{on_test['false_alarms_per_hour']:.0f}", f"{alarms / empty_hours:.2f}",
                     f"{args.duration / wall['test']:.1f}x"])
    actions = sum(1 for s in test.segments if s["class"])
    results.update({
        "note": args.note,
        "checkpoint": str(args.ckpt_path), "hop": args.hop, "threads": args.threads,
        "max_false_alarms": args.max_false_alarms,
        "empty_seeds": args.empty_seeds, "empty_hours": empty_hours,
        "recordings": {name: {"duration_s": o.num_frames / o.fps, "fps": args.fps, "size": args.size,
                              "actions": sum(1 for s in o.segments if s["class"]),
                              "distractors": sum(1 for s in o.segments if s.get("distractor")),
                              "windows": len(o.cells), "render_seconds": rendering[name],
                              "watch_seconds": wall[name], "x_realtime": o.num_frames / o.fps / wall[name]}
                       for name, o in observed.items()},
        "calibration_search_seconds": search_seconds,
    })
    print(f"\n{args.duration:.0f} s recordings at {args.fps} fps, {args.size[0]}x{args.size[1]}; test: "
          f"{actions} actions; hop {args.hop}, {args.threads} threads; calibrated on seed {args.tune_seed}, "
          f"measured on seed {args.test_seed}; empty nights: seeds {args.empty_seeds}, {empty_hours:.1f} h\n")
    header = ["settings", "frame acc. %", "event P", "event R", "event F1 @0.5", "mAP@0.3 %", "mAP@0.5 %",
              "mAP@0.7 %", "FA/hour (test)", "FA/hour (empty)", "x real time"]
    print(markdown_table(header, rows))
    for which in settings:
        if which != "defaults":
            print(f"\n{which} settings: " + json.dumps(settings[which]))
        print(f"{which}: under the false alarms of the empty hours "
              + json.dumps(results["figures"][which]["empty_false_alarm_causes"]))
    write_json(args.out, results)
    return results


if __name__ == "__main__":
    main()
