"""Events a guard can trust: "no action" as an outcome (the reserved background class, the open-set
threshold), `dlkdd calibrate` and `watch --settings`, on real recordings the tests write."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest
import torch

from dlkdd.cli import main as cli_main
from dlkdd.data.sources import BACKGROUND, background_index, make_source
from dlkdd.inference import load_clip_model
from dlkdd.models.metrics import accuracy_metrics
from dlkdd.synthetic.dataset import (
    CLASS_NAMES,
    GAP_SECONDS,
    MARKER_NAME,
    SPLITS,
    SyntheticConfig,
    generate_dataset,
    render_background_clip,
    render_empty_scene,
    split_list_path,
)
from dlkdd.synthetic.recordings import DISTRACTORS, LongVideoConfig, generate_long_video, plan
from dlkdd.watch.calibrate import Recording, default_settings, figures, replay, search
from dlkdd.watch.calibrate import main as calibrate_main
from dlkdd.watch.command import main as watch_main
from dlkdd.watch.events import EventTracker, NoAction
from tests.cli.test_parse_errors import console
from tests.conftest import CONFIGS, TINY, one_step_checkpoint, tiny_data_args


@pytest.fixture(scope="module")
def student(tiny_root, tmp_path_factory) -> Path:
    """A real student checkpoint (one training step), in a folder of its own (calibration writes into it)."""
    return one_step_checkpoint("synthetic/baseline.yaml", tiny_root, tmp_path_factory.mktemp("events-ckpt"))


def test_the_no_action_decision():
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.1, 0.35, 0.55]])
    # The background column is no action: it is taken from the actions, never an event.
    assert NoAction(background=0)(probs)[:, 0].tolist() == [0.0, 0.0, 0.0]
    # Open set: windows whose top action is under the threshold are no confident action at all.
    gated = NoAction(background=0, open_set_threshold=0.52)(probs)
    assert gated[0].sum() == 0 and gated[1].sum() == 0 and gated[2].tolist() == pytest.approx([0, 0.35, 0.55])
    tracker = EventTracker(["background", "run", "walk"], enter=0.4, exit=0.3)
    events = [e for k, p in enumerate(gated) for e in tracker.update((k, k + 1), p)] + tracker.finish()
    assert [(e["class"], e["start"]) for e in events] == [("walk", 2)]
    with pytest.raises(ValueError, match="--open_set_threshold"):
        NoAction(None, 1.5)
    assert background_index(["Background", "run"]) == 0 and background_index(["run"]) is None


def test_background_is_kept_out_of_top1_and_top5():
    metrics = accuracy_metrics(3, [BACKGROUND, "run", "walk"], "test")
    # Two actions (one right), two background clips (both wrong): top-1 is the actions' 1/2.
    metrics.update(torch.tensor([[0.1, 0.8, 0.1], [0.1, 0.8, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]]),
                   torch.tensor([1, 2, 0, 0]))
    figures_ = metrics.compute()
    assert figures_["test/top1"] == 0.5 and figures_["test/acc/background"] == 0.0


def test_a_background_class_from_folders_trains_and_tests(tiny_root, tmp_path):
    """Class folders with a `background/` folder of empty night scenes (with distractors) train and test
    through the real Lightning loops; the checkpoint names the class and its model treats it as none."""
    root = tmp_path / "folders"
    for name in CLASS_NAMES[:2]:
        (root / name).mkdir(parents=True)
        for video in sorted((tiny_root / name).glob("*.mp4"))[:3]:
            shutil.copy(video, root / name)
    for seed in range(3):
        generate_long_video(root / BACKGROUND / f"empty_{seed}.mp4",
                            LongVideoConfig(duration=1.2, fps=15, height=48, width=64, seed=seed,
                                            distractors=1.0, actions=False))
    source = make_source("folder", root, 1)
    assert BACKGROUND in source.class_names and source.items("test")
    config = str(CONFIGS / "synthetic/baseline.yaml")
    common = [*tiny_data_args(tiny_root), "--data.dataset=folder", f"--data.root={root}",
              "--data.clip_store=false", "--trainer.accelerator=cpu", "--trainer.enable_progress_bar=false",
              "--trainer.logger=false", f"--trainer.callbacks.dirpath={tmp_path / 'ckpt'}"]
    fit = cli_main(["fit", "--config", config, *common, "--trainer.max_epochs=1"])
    best = fit.trainer.checkpoint_callback.best_model_path
    test = cli_main(["test", "--config", config, *common, "--ckpt_path", best])
    metrics = test.trainer.callback_metrics
    assert "test/top1" in metrics and "test/acc/background" in metrics
    assert load_clip_model(best).spec.class_names == [BACKGROUND, *sorted(CLASS_NAMES[:2])]


def _recording_from_annotations(config: LongVideoConfig, confusions: int = 0,
                                distractor: float = 0.0) -> Recording:
    """Window probabilities read off a generated recording's plan (each window: its cell's annotated
    class, blurred across boundaries), plus confident wrong blips in the gaps, as an overconfident
    model gives on empty scenes; with `distractor`, the gaps' distractors raise one action's logit by
    that much for as long as they last (2.5: p about 0.55, under an action's 0.75)."""
    segments = [s.as_dict(config.fps) for s in plan(config)]
    hop, generator = 0.5, torch.Generator().manual_seed(config.seed)
    cells, rows = [], []
    for k in range(int(config.duration / hop)):
        t = (k + 0.5) * hop
        label = next((s["class"] for s in segments if s["start"] <= t < s["end"]), None)
        p = torch.rand(len(CLASS_NAMES), generator=generator) * 0.3
        if label is not None:
            p[CLASS_NAMES.index(label)] += 3.5
        elif k % 5 == 0:  # a confident blip of some action in a gap (p about 0.65)
            p[int(torch.randint(len(CLASS_NAMES), (1,), generator=generator))] += 3.0
        segment = next((s for s in segments if s["start"] <= t < s["end"]), {})
        if distractor and segment.get("distractor"):  # a distractor looks like some action, all along
            p[segments.index(segment) % len(CLASS_NAMES)] += distractor
        cells.append((k * hop, (k + 1) * hop))
        rows.append(p.softmax(0))
    return Recording("planned", cells, torch.stack(rows), segments, round(config.duration * config.fps),
                     config.fps)


def test_calibration_beats_the_defaults_on_cached_probabilities():
    config = LongVideoConfig(duration=120.0, fps=15, gap=(3.0, 6.0), seed=3)
    tune, held_out = _recording_from_annotations(config), _recording_from_annotations(
        LongVideoConfig(duration=120.0, fps=15, gap=(3.0, 6.0), seed=4))
    names = list(CLASS_NAMES)
    defaults = default_settings()
    chosen = search([tune], names)
    before, after = figures([held_out], defaults, names), figures([held_out], chosen, names)
    # The blips are events at the defaults; calibrated settings drop them on the held-out seed too.
    assert after["pooled"]["event_f1"] > before["pooled"]["event_f1"] + 0.2
    assert after["pooled"]["event_f1"] > 0.9
    assert len(replay(held_out, chosen, names)) < len(replay(held_out, defaults, names))


def test_calibrate_then_watch_with_the_settings(tmp_path, student, capsys):
    """`dlkdd calibrate` on a real annotated recording, through the real model: the settings it writes
    do at least as well as the defaults (the grid holds the defaults' neighbours), `watch --settings`
    gives the events the calibration replayed, and an empty night with distractors gives none."""
    night, empty = tmp_path / "night.mp4", tmp_path / "empty.mp4"
    generate_long_video(night, LongVideoConfig(duration=12.0, fps=15, height=32, width=44, seed=1))
    generate_long_video(empty, LongVideoConfig(duration=12.0, fps=15, height=32, width=44, seed=2,
                                               distractors=1.0, actions=False))
    settings = tmp_path / "event_settings.json"
    result = calibrate_main([str(night), str(empty), "--ckpt_path", str(student), "--hop", "5f", "--output",
                             str(settings)])
    printed = capsys.readouterr().out
    assert "calibrated" in printed and "pooled event F1" in printed
    written = json.loads(settings.read_text())
    assert written["event_settings"] == result["event_settings"] and written["hop"] == "5f"
    before, after = written["figures"]["defaults"]["pooled"], written["figures"]["calibrated"]["pooled"]
    assert after["event_f1"] >= before["event_f1"] and after["events"] <= before["events"]

    for video in (night, empty):
        watch_main([str(video), "--ckpt_path", str(student), "--settings", str(settings), "--output_dir",
                    str(tmp_path / "out"), "--timeline", "none"])
        events = [json.loads(line) for line in (tmp_path / f"out/{video.stem}.events.jsonl").read_text()
                  .splitlines()]
        replayed = written["figures"]["calibrated"]["recordings"][video.name]["event_predicted"]
        assert len(events) == replayed
    assert (tmp_path / "out/empty.events.jsonl").read_text() == ""


def test_the_settings_round_trip_through_the_checkpoint_and_the_exported_file(tmp_path, student, capsys):
    ckpt = tmp_path / "student.ckpt"
    shutil.copy(student, ckpt)
    night = tmp_path / "night.mp4"
    generate_long_video(night, LongVideoConfig(duration=6.0, fps=15, height=32, width=44, seed=5))
    result = calibrate_main([str(night), "--ckpt_path", str(ckpt), "--hop", "5f", "--output",
                             str(tmp_path / "s.json"), "--into_checkpoint"])
    carried = {**result["event_settings"], "hop": "5f"}
    assert load_clip_model(ckpt).spec.event_settings == carried
    # `watch` takes them from the model (an option given on the command line still wins).
    capsys.readouterr()
    watch_main([str(night), "--ckpt_path", str(ckpt), "--output_dir", str(tmp_path / "out"), "--smooth", "4"])
    said = capsys.readouterr().err
    assert f"open_set_threshold={carried['open_set_threshold']} (model)" in said
    assert "smooth=4 (option)" in said
    # The exported file's metadata carries them: TorchScript here, ONNX too where its extra is installed.
    from dlkdd.inference.export import main as export_main

    export_main(["--ckpt_path", str(ckpt), "--output", str(tmp_path / "student.pt"), "--num_clips", "2"])
    assert load_clip_model(tmp_path / "student.pt").spec.event_settings == carried
    pytest.importorskip("onnxruntime", reason='the export extra: pip install -e ".[export]"')
    export_main(["--ckpt_path", str(ckpt), "--output", str(tmp_path / "student.onnx"), "--num_clips", "2"])
    assert load_clip_model(tmp_path / "student.onnx").spec.event_settings == carried


def test_an_empty_night_has_distractors_and_no_actions():
    segments = plan(LongVideoConfig(duration=300.0, fps=15, actions=False, distractors=0.5))
    assert all(s.label is None for s in segments)
    assert {s.distractor for s in segments} == {None, *DISTRACTORS}
    # The actions' plan does not depend on the distractors.
    with_, without = (plan(LongVideoConfig(duration=60.0, distractors=d)) for d in (0.5, 0.0))
    assert [(s.label, s.start_frame) for s in with_] == [(s.label, s.start_frame) for s in without]


def test_the_benchmark_runs_end_to_end_at_its_smallest(tmp_path, student):
    from benchmarks.events import main as benchmark

    out = tmp_path / "events.json"
    results = benchmark(["--ckpt_path", str(student), "--duration", "6", "--size", "32", "44", "--gap", "1",
                         "2", "--empty_seeds", "3", "5", "--work", str(tmp_path / "work"), "--out", str(out)])
    written = json.loads(out.read_text())
    assert written["provenance"]["commit"] and written["machine"]
    assert set(written["figures"]) == {"defaults", "calibrated"}
    for which in ("defaults", "calibrated"):
        test = results["figures"][which]["test"]
        assert 0 <= test["event_f1"] <= 1 and 0 <= test["map@0.5"] <= 1 and "false_alarms_per_hour" in test
    assert written["recordings"]["empty"]["actions"] == 0 and written["recordings"]["test"]["x_realtime"] > 0
    # Two empty nights, pooled: their events per night add up, and the rate is over both.
    assert written["empty_hours"] == pytest.approx(2 * 6 / 3600)
    for which in ("defaults", "calibrated"):
        figures = written["figures"][which]
        assert len(figures["empty_events_per_night"]) == 2
        assert figures["empty_events"] == sum(figures["empty_events_per_night"])
        assert figures["empty_false_alarms_per_hour"] == pytest.approx(figures["empty_events"] / (12 / 3600))
        assert figures["empty_false_alarms_per_hour_upper95"] > figures["empty_false_alarms_per_hour"]


def test_the_benchmark_says_what_lies_under_each_false_alarm():
    from benchmarks.events import unmatched_causes

    segments = [{"class": None, "start": 0.0, "end": 4.0, "distractor": "headlights"},
                {"class": "jump", "start": 4.0, "end": 7.0},
                {"class": None, "start": 7.0, "end": 12.0}]
    events = [{"class": "jump", "start": 4.2, "end": 6.8, "confidence": 0.9},  # matched
              {"class": "run", "start": 4.5, "end": 6.0, "confidence": 0.8},  # in the action, wrong class
              {"class": "run", "start": 1.0, "end": 2.0, "confidence": 0.7},  # the headlights
              {"class": "jump", "start": 9.0, "end": 9.5, "confidence": 0.6}]  # an empty gap
    assert unmatched_causes(events, segments) == {"action": 1, "headlights": 1, "empty scene": 1}


def test_the_benchmark_bounds_a_rate_of_rare_false_alarms():
    """Garwood's exact one-sided 95 % bound: none in an hour is still up to 3.0 an hour."""
    from benchmarks.events import poisson_upper95

    assert [round(poisson_upper95(k), 2) for k in (0, 1, 2, 10)] == [3.00, 4.74, 6.30, 16.96]


def test_bad_settings_files_name_the_fix(tmp_path, student, monkeypatch, capsys):
    generate_long_video(tmp_path / "x.mp4", LongVideoConfig(duration=1.0, fps=15, height=32, width=44))
    bad = tmp_path / "bad.json"
    bad.write_text('{"event_settings": {"event_enter": 0.5}}')
    with pytest.raises(ValueError, match="--settings .*bad.json.*event_exit"):
        watch_main([str(tmp_path / "x.mp4"), "--ckpt_path", str(student), "--settings", str(bad)])
    with pytest.raises(FileNotFoundError, match="dlkdd calibrate"):
        watch_main([str(tmp_path / "x.mp4"), "--ckpt_path", str(student), "--settings", str(tmp_path / "no")])
    # Through the console entry point: one `dlkdd: error:` paragraph naming the file and what it needs.
    (tmp_path / "x.mp4.json").write_text('{"segments": []}')
    message = console(monkeypatch, capsys, "calibrate", str(tmp_path / "x.mp4"), "--ckpt_path", str(student))
    assert "x.mp4.json: not a recording's annotations (KeyError: 'num_frames')" in message


def test_the_generated_dark_set_gains_background_clips_with_distractors(tmp_path):
    """`background_ratio`: a `background/` folder of empty night scenes, four in five with one of the
    long recordings' distractors (the same renderers), labelled after the actions; it trains and tests
    through the real Lightning loops as the reserved class, and is off by default."""
    tiny = replace(TINY, train_per_class=1, background_ratio=2.0)
    root = generate_dataset(tmp_path / "data", tiny)
    # Background clips cut before they were windows of recording-length gaps are stale: regenerated.
    assert json.loads((root / MARKER_NAME).read_text())["background_gap_seconds"] == list(GAP_SECONDS)
    for split in SPLITS:
        rows = [line.split("\t") for line in split_list_path(root, split).read_text().splitlines()]
        background = [path for _, label, path in rows if int(label) == len(CLASS_NAMES)]
        assert background == [f"{BACKGROUND}/{BACKGROUND}_{split}_{k:04d}.mp4" for k in range(2)]
        assert all((root / path).is_file() for path in background)
    # Clip 0 of a split is an empty scene, clip k > 0 holds DISTRACTORS[k - 1] (cycling).
    clip = replace(tiny, num_frames=12)
    empty = render_empty_scene(np.random.default_rng(7), 12, clip)
    np.testing.assert_array_equal(render_background_clip(0, np.random.default_rng(7), clip), empty)
    for k, kind in enumerate(DISTRACTORS, start=1):
        distracted = render_background_clip(k, np.random.default_rng(7), clip)
        assert np.abs(distracted - empty).max() > 0.05, kind
    assert not SyntheticConfig().background_ratio
    plain = tiny_dataset_without(tmp_path)  # off: no folder, and the marker of datasets made before it
    assert not (plain / BACKGROUND).exists() and "background_ratio" not in (plain / MARKER_NAME).read_text()

    config = str(CONFIGS / "synthetic/baseline.yaml")
    common = [*tiny_data_args(root), f"--data.synthetic={json.dumps(asdict(tiny))}",
              "--data.clip_store=false", "--trainer.accelerator=cpu", "--trainer.enable_progress_bar=false",
              "--trainer.logger=false",
              f"--trainer.callbacks.dirpath={tmp_path / 'ckpt'}"]
    fit = cli_main(["fit", "--config", config, *common, "--trainer.max_epochs=1"])
    best = fit.trainer.checkpoint_callback.best_model_path
    test = cli_main(["test", "--config", config, *common, "--ckpt_path", best])
    assert {"test/top1", "test/acc/background"} <= set(test.trainer.callback_metrics)
    assert load_clip_model(best).spec.class_names == [*CLASS_NAMES, BACKGROUND]

    # watch: background is the no-event state. The trained checkpoint with its head made sure of one
    # class: sure of background, an empty night with distractors gives no event at all; sure of an
    # action, the same night is one long event of it.
    night = tmp_path / "empty.mp4"
    generate_long_video(night, LongVideoConfig(duration=6.0, fps=15, height=32, width=44, seed=5,
                                               distractors=1.0, actions=False))
    for sure_of, events in ((BACKGROUND, 0), ("move_left", 1)):
        checkpoint = torch.load(best, map_location="cpu", weights_only=False)
        bias = checkpoint["state_dict"]["backbone.head.bias"]
        bias.fill_(-20.0)[[*CLASS_NAMES, BACKGROUND].index(sure_of)] = 20.0
        torch.save(checkpoint, tmp_path / f"sure_of_{sure_of}.ckpt")
        watch_main([str(night), "--ckpt_path", str(tmp_path / f"sure_of_{sure_of}.ckpt"), "--output_dir",
                    str(tmp_path / sure_of), "--timeline", "none"])
        written = (tmp_path / sure_of / "empty.events.jsonl").read_text().splitlines()
        assert [json.loads(line)["class"] for line in written] == [sure_of] * events


def test_background_headlights_cross_at_the_recordings_speed():
    """A background clip is a window of a recording-length gap (GAP_SECONDS): its headlights move as
    slowly as the watched night's (a 1.4-width crossing over 30-80 % of a 3-12 s gap), not across the
    clip's own 32 frames (7-20 px a frame at 128 px wide, what the clips showed before)."""
    config = SyntheticConfig()
    fastest = 1.4 * config.width / (0.3 * GAP_SECONDS[0] * config.fps - 1)
    speeds = []
    for seed in range(8):  # clip 1 of each cycle is headlights
        clip = render_background_clip(1, np.random.default_rng(seed), config)
        assert clip.shape == (config.num_frames, config.height, config.width, 3)
        spot = (clip - clip.min(axis=0)).sum(axis=(1, 3))  # (T, W): the moving light, the still scene gone
        seen = spot.sum(axis=1) > 0.05 * spot.sum(axis=1).max()
        assert seen.any()
        x = (spot * np.arange(config.width)).sum(axis=1) / np.maximum(spot.sum(axis=1), 1e-9)
        steps = np.abs(np.diff(x))[seen[1:] & seen[:-1]]
        if steps.size:
            speeds.append(float(np.median(steps)))
    assert speeds and max(speeds) <= fastest + 1
    assert np.median(speeds) < 5


def tiny_dataset_without(tmp_path: Path) -> Path:
    """A dataset generated without the option: no background folder (and the same marker as before)."""
    config = replace(TINY, train_per_class=0, val_per_class=0, test_per_class=0)
    return generate_dataset(tmp_path / "plain", config)


def test_calibration_with_an_empty_night_picks_fewer_false_alarms():
    """An empty recording in the calibration bounds its false alarms: on cached probabilities with
    confident blips in the gaps and an empty night of such blips, the settings chosen with the empty
    night give fewer false alarms on another empty night than those chosen on the actions alone."""
    names = list(CLASS_NAMES)
    tune = _recording_from_annotations(LongVideoConfig(duration=120.0, fps=15, gap=(3.0, 6.0), seed=3,
                                                       distractors=0.0))
    empty_tune, empty_test = (
        _recording_from_annotations(LongVideoConfig(duration=240.0, fps=15, gap=(3.0, 6.0), seed=seed,
                                                    distractors=1.0, actions=False), distractor=2.5)
        for seed in (5, 6))
    assert empty_tune.empty and not tune.empty
    alone = search([tune], names)
    with_empty = search([tune, empty_tune], names, max_false_alarms=1.0)
    alarms = [figures([empty_test], chosen, names)["pooled"]["empty_false_alarms_per_hour"]
              for chosen in (alone, with_empty)]
    assert alarms[1] < alarms[0] and alarms[1] <= 15  # the test night: 240 s, so one event is 15 per hour
    assert figures([tune], with_empty, names)["pooled"]["event_f1"] > 0.9  # the actions are still found
    with pytest.raises(ValueError, match="no annotated action"):
        search([empty_tune], names)
