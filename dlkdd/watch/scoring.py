"""Events against annotated segments: frame-level accuracy and event precision / recall / F1 at a
temporal IoU, as in temporal action detection (a prediction matches one unmatched annotation of its
class with tIoU >= the threshold, most confident predictions first)."""

from __future__ import annotations

import math


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


def event_scores(events: list[dict], truth: list[dict], iou: float = 0.5) -> dict[str, float]:
    actions = [t for t in truth if t.get("class") is not None]
    matched = [False] * len(actions)
    hits = 0
    for event in sorted(events, key=lambda e: -e.get("peak", 0.0)):
        best, best_iou = None, iou
        for k, segment in enumerate(actions):
            if matched[k] or segment["class"] != event["class"]:
                continue
            overlap = temporal_iou((event["start"], event["end"]), (segment["start"], segment["end"]))
            if overlap >= best_iou:
                best, best_iou = k, overlap
        if best is not None:
            matched[best] = True
            hits += 1
    precision = hits / len(events) if events else 0.0
    recall = hits / len(actions) if actions else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "predicted": len(events),
            "annotated": len(actions), "matched": hits}
