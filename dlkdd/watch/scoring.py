"""Events against annotated segments, with the temporal action detection field's metrics.

Events and annotations are dicts with "class", "start" and "end" (seconds); an event's confidence is its
"peak" probability. An annotation whose class is None is a stretch of no action.

- frame accuracy: the share of frames whose predicted state (an event's class, or no action) is the
  annotated one;
- event precision / recall / F1 at a temporal IoU (tIoU = overlap / union of the two intervals): a
  prediction is a true positive when it matches one still unmatched annotation of its class with
  tIoU >= the threshold, predictions taken most confident first;
- mAP at a tIoU (the THUMOS'14 / ActivityNet detection protocol): per annotated class, the average
  precision of that class's predictions ranked by confidence (the same greedy matching), interpolated
  as ActivityNet's evaluation does (VOC 2011: precision made monotone, summed over recall steps), then
  averaged over the classes. Follows `compute_average_precision_detection` and
  `interpolated_prec_rec` of ActionFormer's libs/utils/metrics.py (happyharrycn/actionformer_release,
  itself from the ActivityNet Challenge's Evaluation code);
- false alarms per hour: predicted events that match no annotation at the tIoU, per hour of footage
  (on footage with no action at all, every event is one).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

MAP_IOUS = (0.3, 0.5, 0.7)


def temporal_iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 0.0


def frame_labels(segments: list[dict], num_frames: int, fps: float) -> list[str | None]:
    """The class at each frame (by its centre time); None where no segment covers it."""
    labels: list[str | None] = [None] * num_frames
    for segment in segments:
        if segment.get("class") is None:
            continue
        first = max(0, math.ceil(segment["start"] * fps - 0.5))
        last = min(num_frames, math.ceil(segment["end"] * fps - 0.5))
        for k in range(first, last):
            labels[k] = segment["class"]
    return labels


def frame_accuracy(events: list[dict], truth: list[dict], num_frames: int, fps: float) -> float:
    """Share of frames whose predicted state (an event's class, or no action) is the annotated one."""
    predicted, annotated = frame_labels(events, num_frames, fps), frame_labels(truth, num_frames, fps)
    return sum(p == a for p, a in zip(predicted, annotated, strict=True)) / max(1, num_frames)


def _actions(truth: list[dict]) -> list[dict]:
    return [t for t in truth if t.get("class") is not None]


def match(events: list[dict], truth: list[dict], iou: float) -> list[bool]:
    """For each event (in the order given): whether it is a true positive at tIoU >= `iou`. Events are
    matched most confident first, each to the unmatched annotation of its class it overlaps most."""
    by_class: dict[str, list[dict]] = {}
    for segment in sorted(_actions(truth), key=lambda s: s["start"]):
        by_class.setdefault(segment["class"], []).append(segment)
    # Only annotations that overlap an event can match it (tIoU > 0): those starting in
    # (event start - the class's longest annotation, event end), found by bisection in long recordings.
    starts = {c: [s["start"] for s in segments] for c, segments in by_class.items()}
    longest = {c: max(s["end"] - s["start"] for s in segments) for c, segments in by_class.items()}
    taken: set[int] = set()
    hit = [False] * len(events)
    for k in sorted(range(len(events)), key=lambda k: -events[k].get("peak", 0.0)):
        event = events[k]
        best, best_iou = None, iou
        if event["class"] not in by_class:
            continue
        first = bisect.bisect_left(starts[event["class"]], event["start"] - longest[event["class"]])
        last = bisect.bisect_left(starts[event["class"]], event["end"])
        for segment in by_class[event["class"]][first:last]:
            if id(segment) in taken:
                continue
            overlap = temporal_iou((event["start"], event["end"]), (segment["start"], segment["end"]))
            if overlap >= best_iou:
                best, best_iou = segment, overlap
        if best is not None:
            taken.add(id(best))
            hit[k] = True
    return hit


def event_scores(events: list[dict], truth: list[dict], iou: float = 0.5) -> dict[str, float]:
    hits = sum(match(events, truth, iou))
    annotated = len(_actions(truth))
    precision = hits / len(events) if events else 0.0
    recall = hits / annotated if annotated else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "predicted": len(events),
            "annotated": annotated, "matched": hits}


def interpolated_average_precision(precision: Sequence[float], recall: Sequence[float]) -> float:
    """ActivityNet's interpolated AP (VOC 2011): the precision envelope summed over the recall steps."""
    envelope = [0.0, *precision, 0.0]
    recalls = [0.0, *recall, 1.0]
    for i in range(len(envelope) - 2, -1, -1):
        envelope[i] = max(envelope[i], envelope[i + 1])
    return sum((recalls[i] - recalls[i - 1]) * envelope[i]
               for i in range(1, len(recalls)) if recalls[i] != recalls[i - 1])


def average_precision(events: list[dict], truth: list[dict], iou: float) -> float:
    """AP of one class's predictions against that class's annotations."""
    annotated = len(_actions(truth))
    if not events or not annotated:
        return 0.0
    ranked = sorted(events, key=lambda e: -e.get("peak", 0.0))
    hits = match(ranked, truth, iou)
    precision, recall, tp = [], [], 0
    for n, hit in enumerate(hits, start=1):
        tp += hit
        precision.append(tp / n)
        recall.append(tp / annotated)
    return interpolated_average_precision(precision, recall)


def mean_average_precision(events: list[dict], truth: list[dict], iou: float) -> float:
    """mAP over the annotated classes (a class that is never annotated does not count, as in
    ActivityNet's evaluation; its predictions cannot be scored there)."""
    classes = sorted({t["class"] for t in _actions(truth)})
    if not classes:
        return 0.0
    per_class = [average_precision([e for e in events if e["class"] == c],
                                   [t for t in truth if t.get("class") == c], iou) for c in classes]
    return sum(per_class) / len(classes)


def false_alarms_per_hour(events: list[dict], truth: list[dict], seconds: float, iou: float = 0.5) -> float:
    """Predicted events matching no annotation at tIoU >= `iou`, per hour of footage."""
    misses = len(events) - sum(match(events, truth, iou))
    return misses / (seconds / 3600.0) if seconds > 0 else 0.0


def detection_report(events: list[dict], truth: list[dict], num_frames: int, fps: float) -> dict[str, float]:
    """Every figure of the module for one recording: frame accuracy, event P/R/F1 at tIoU 0.5, mAP at
    MAP_IOUS and false alarms per hour."""
    seconds = num_frames / fps
    scores = event_scores(events, truth, 0.5)
    return {"frame_accuracy": frame_accuracy(events, truth, num_frames, fps),
            **{f"event_{k}": v for k, v in scores.items()},
            **{f"map@{iou}": mean_average_precision(events, truth, iou) for iou in MAP_IOUS},
            "false_alarms_per_hour": false_alarms_per_hour(events, truth, seconds, 0.5),
            "hours": seconds / 3600.0}
