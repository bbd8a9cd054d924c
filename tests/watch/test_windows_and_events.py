"""`dlkdd watch`'s decisions on given probability sequences: events (hysteresis, minimum duration, the
no-action state, one incident one event), alerts (threshold, duration, cooldown) and the scoring the
benchmark uses, including events recovered from a generated long video's own annotations."""

from __future__ import annotations

import pytest
import torch

from dlkdd.synthetic.dataset import CLASS_NAMES
from dlkdd.synthetic.recordings import LongVideoConfig, plan
from dlkdd.watch.events import Alerter, EventTracker
from dlkdd.watch.scoring import detection_report, event_scores, frame_accuracy, temporal_iou
from dlkdd.watch.smoothing import MovingAverage
from dlkdd.watch.windows import parse_hop

NAMES = ["walk", "run", "fall"]


def probs(p: dict[str, float]) -> torch.Tensor:
    rest = (1.0 - sum(p.values())) / (len(NAMES) - len(p)) if len(p) < len(NAMES) else 0.0
    return torch.tensor([p.get(n, rest) for n in NAMES])


def feed(tracker, sequence: list[dict[str, float]], hop: float = 1.0) -> list[dict]:
    out = []
    for k, p in enumerate(sequence):
        out += tracker.update((k * hop, (k + 1) * hop), probs(p))
    return out + (tracker.finish() if isinstance(tracker, EventTracker) else [])


def test_a_dip_between_the_thresholds_does_not_split_an_incident():
    events = feed(EventTracker(NAMES, enter=0.6, exit=0.3),
                  [{"run": 0.1}, {"run": 0.7}, {"run": 0.4}, {"run": 0.9}, {"run": 0.2}, {"run": 0.1}])
    assert [(e["class"], e["start"], e["end"], e["windows"]) for e in events] == [("run", 1, 4, 3)]
    assert events[0]["peak"] == pytest.approx(0.9)
    assert events[0]["mean"] == pytest.approx((0.7 + 0.4 + 0.9) / 3, abs=1e-4)


def test_below_the_enter_threshold_is_no_action_and_short_events_are_dropped():
    tracker = EventTracker(NAMES, enter=0.6, exit=0.3, min_duration=2.0)
    events = feed(tracker, [{"walk": 0.5}, {"walk": 0.55}, {"fall": 0.8}, {"fall": 0.1},  # 1 s: dropped
                            {"walk": 0.7}, {"walk": 0.7}, {"walk": 0.65}])  # 3 s, open at the end
    assert [(e["class"], e["start"], e["end"]) for e in events] == [("walk", 4, 7)]


def test_another_confident_class_ends_the_event_and_opens_its_own():
    events = feed(EventTracker(NAMES, enter=0.5, exit=0.2), [{"walk": 0.8}, {"walk": 0.3, "run": 0.6},
                                                              {"run": 0.7}])
    assert [(e["class"], e["start"], e["end"]) for e in events] == [("walk", 0, 1), ("run", 1, 3)]


def test_thresholds_out_of_order_are_a_usage_error():
    with pytest.raises(ValueError, match="--event_exit"):
        EventTracker(NAMES, enter=0.3, exit=0.5)
    with pytest.raises(ValueError, match="--alert jump: not a class"):
        Alerter(NAMES, ["jump"])


def test_alerts_respect_threshold_duration_and_cooldown():
    alerter = Alerter(NAMES, ["fall"], threshold=0.8, min_duration=2.0, cooldown=5.0)
    seq = ([{"fall": 0.9}] + [{"fall": 0.7}]  # 1 s above, then below: the run restarts
           + [{"fall": 0.85}] * 3  # fires when 2 s are reached, at t = 4
           + [{"fall": 0.95}] * 4  # still above: cooled down only at t = 9
           + [{"fall": 0.1}] + [{"fall": 0.9}] * 2)  # a new run of 2 s, at t = 12: 3 s after the last
    alerts = feed(alerter, seq)
    assert [(a["class"], a["time"], a["since"]) for a in alerts] == [("fall", 4, 2), ("fall", 9, 2)]
    assert all(a["confidence"] >= 0.8 for a in alerts)
    quiet = feed(Alerter(NAMES, ["walk"], threshold=0.8, min_duration=0.0), seq)
    assert quiet == []  # only the classes asked for


def test_smoothing_averages_the_last_windows():
    smooth = MovingAverage(2)
    smooth(torch.tensor([1.0, 0.0]))
    assert smooth(torch.tensor([0.0, 1.0])).tolist() == [0.5, 0.5]
    assert smooth(torch.tensor([0.0, 1.0])).tolist() == [0.0, 1.0]


def test_hop_in_seconds_or_frames():
    assert parse_hop("0.5", 25) == 0.5 and parse_hop("0.5s", 25) == 0.5 and parse_hop("5f", 25) == 0.2
    with pytest.raises(ValueError, match="--hop 'fast'"):
        parse_hop("fast", 25)


def test_scoring():
    truth = [{"class": "run", "start": 0.0, "end": 2.0}, {"class": None, "start": 2.0, "end": 3.0},
             {"class": "walk", "start": 3.0, "end": 5.0}]
    assert temporal_iou((0, 2), (1, 3)) == pytest.approx(1 / 3)
    scores = event_scores([{"class": "run", "start": 0.5, "end": 2.0, "peak": 0.9},
                           {"class": "run", "start": 3.0, "end": 5.0, "peak": 0.8}], truth)
    assert (scores["precision"], scores["recall"], scores["f1"]) == (0.5, 0.5, 0.5)
    assert frame_accuracy([{"class": "run", "start": 0.0, "end": 2.0}], truth, 50, 10) == pytest.approx(0.6)


def test_detection_metrics_equal_a_hand_computation():
    """Two annotated actions in 20 s: `run` [0, 4] is split into two predictions, `walk` [10, 12] is
    missed. By hand: the split's pieces overlap `run` with tIoU 2.5/4 = 0.625 (confidence 0.7) and
    1.5/4 = 0.375 (confidence 0.9)."""
    truth = [{"class": None, "start": 0.0, "end": 0.0}, {"class": "run", "start": 0.0, "end": 4.0},
             {"class": None, "start": 4.0, "end": 10.0}, {"class": "walk", "start": 10.0, "end": 12.0},
             {"class": None, "start": 12.0, "end": 20.0}]
    events = [{"class": "run", "start": 0.0, "end": 2.5, "peak": 0.7},
              {"class": "run", "start": 2.5, "end": 4.0, "peak": 0.9}]
    report = detection_report(events, truth, num_frames=200, fps=10)
    # Frames: all but walk's 20 (predicted no action) are right.
    assert report["frame_accuracy"] == pytest.approx(180 / 200)
    # tIoU 0.5: the 0.625 piece is the one true positive of 2 predictions, 1 of 2 actions found.
    assert (report["event_precision"], report["event_recall"], report["event_f1"]) == (0.5, 0.5, 0.5)
    # AP(run) at 0.5 (one `run` annotated): ranked 0.9 (FP), 0.7 (TP) -> precision 0, 1/2 at recall
    # 0, 1; the envelope gives 1/2 over recall [0, 1] -> 0.5; AP(walk) = 0 (never predicted); mAP 0.25.
    assert report["map@0.5"] == pytest.approx(0.25)
    # At 0.3 the 0.9 piece (0.375) matches first: precision 1 at recall 1 -> AP(run) 1, mAP 0.5.
    assert report["map@0.3"] == pytest.approx(0.5)
    # At 0.7 neither piece matches.
    assert report["map@0.7"] == 0.0
    # One prediction matches nothing at tIoU 0.5 in 20 s: 1 / (20 / 3600) = 180 per hour.
    assert report["false_alarms_per_hour"] == pytest.approx(180.0)


def test_events_from_a_long_videos_annotations_match_them():
    """Windows over a generated recording's plan, each reading the annotated class of its cell's middle
    (noisy, with a blur across boundaries as a real window straddling two segments has): the tracker
    gives back the annotated segments, one event each."""
    config = LongVideoConfig(duration=120.0, fps=15)
    segments = [s.as_dict(config.fps) for s in plan(config)]
    assert segments[0]["class"] is None and {s["class"] for s in segments} >= set(CLASS_NAMES)
    generator = torch.Generator().manual_seed(0)
    tracker, events, hop, duration = EventTracker(list(CLASS_NAMES), 0.5, 0.3, 0.5), [], 1 / 3, 22 / 15

    def annotated(t: float) -> torch.Tensor:
        p = torch.full((len(CLASS_NAMES),), 0.05)
        label = next((s["class"] for s in segments if s["start"] <= t < s["end"]), None)
        if label is not None:
            p[CLASS_NAMES.index(label)] = 1.0
        return p

    for k in range(int(config.duration / hop)):
        start = k * hop
        middle = start + duration / 2
        # The window's probabilities: the classes over its frames, so it blurs across a boundary.
        p = torch.stack([annotated(start + j * duration / 8) for j in range(8)]).mean(0)
        p = (p + 0.1 * torch.rand(p.shape, generator=generator)).softmax(0) ** 8
        events += tracker.update((middle - hop / 2, middle + hop / 2), p / p.sum())
    events += tracker.finish()
    scores = event_scores(events, segments, iou=0.5)
    assert scores["f1"] == 1.0 and scores["predicted"] == scores["annotated"]
    assert frame_accuracy(events, segments, round(config.duration * config.fps), config.fps) > 0.8
