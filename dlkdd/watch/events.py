"""Window probabilities -> events (one incident, one segment) and alerts.

No action: a window is in the no-event state when the model says so, in either of two ways. A model
trained with the reserved background class (dlkdd.data.sources.BACKGROUND) gives it probability, which is
taken from the actions (its column counts as no action). A model trained without one (ARID, Dark-48)
gives every window to some action; its open-set decision is the maximum softmax probability (MSP,
Hendrycks & Gimpel, ICLR 2017) of the actions: a window whose MSP is under the calibrated
`open_set_threshold` is "no confident action" and all its action probabilities count as none. The
decision is per window, before smoothing, so unconfident windows also pull the smoothed score down.

Events: a two-threshold state machine over the windows' cells (the hop-wide stretch of time each
window speaks for). From the class-agnostic "no confident action" state, a class whose probability
reaches `enter` opens an event; the event holds while that class stays at or above `exit` (hysteresis:
a dip between the two thresholds does not split an incident) and ends when it falls below, or when
another class reaches `enter` above it. An event shorter than `min_duration` seconds is dropped.

Alerts: for each watched class, the class at or above `threshold` for `min_duration` seconds in a row
fires an alert, and fires again at most once per `cooldown` seconds while it lasts or returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from torch import Tensor


class NoAction:
    """(..., K) window probabilities -> the action probabilities the event logic sees: the background
    column zeroed, and every column of a window whose action MSP is under `open_set_threshold`."""

    def __init__(self, background: int | None = None, open_set_threshold: float = 0.0) -> None:
        if not 0.0 <= open_set_threshold <= 1.0:
            raise ValueError(f"--open_set_threshold must be in [0, 1] (0: off), got {open_set_threshold}")
        self.background, self.open_set_threshold = background, open_set_threshold

    def __call__(self, probs: Tensor) -> Tensor:
        actions = probs.clone()
        if self.background is not None:
            actions[..., self.background] = 0.0
        if self.open_set_threshold > 0:
            confident = actions.max(dim=-1, keepdim=True).values >= self.open_set_threshold
            actions = actions * confident
        return actions


def _clock(wall: datetime | None) -> dict:
    return {"wall_clock": wall.isoformat()} if wall is not None else {}


@dataclass
class _Open:
    label: int
    start: float
    end: float
    wall_clock: datetime | None
    probs: list[float] = field(default_factory=list)


class EventTracker:
    def __init__(self, class_names: list[str], enter: float = 0.5, exit: float = 0.35,
                 min_duration: float = 0.0) -> None:
        if not 0.0 <= exit <= enter <= 1.0:
            raise ValueError(f"--event_exit ({exit}) must be <= --event_enter ({enter}), both in [0, 1]")
        self.class_names, self.enter, self.exit, self.min_duration = class_names, enter, exit, min_duration
        self.open: _Open | None = None

    def update(self, cell: tuple[float, float], probs: Tensor, wall: datetime | None = None) -> list[dict]:
        """Feed one window (in time order); returns the events it closes."""
        closed = []
        top = int(probs.argmax())
        if self.open is not None:
            current = float(probs[self.open.label])
            overtaken = top != self.open.label and float(probs[top]) >= self.enter
            if current < self.exit or overtaken:
                closed += self._close()
            else:
                self.open.end = cell[1]
                self.open.probs.append(current)
        if self.open is None and float(probs[top]) >= self.enter:
            self.open = _Open(top, cell[0], cell[1], wall, [float(probs[top])])
        return closed

    def finish(self) -> list[dict]:
        """At the end of the stream: the event still open, if long enough."""
        return self._close()

    def _close(self) -> list[dict]:
        event, self.open = self.open, None
        if event is None or event.end - event.start < self.min_duration:
            return []
        return [{
            "type": "event",
            "class": self.class_names[event.label],
            "start": round(event.start, 3),
            "end": round(event.end, 3),
            "duration": round(event.end - event.start, 3),
            "peak": round(max(event.probs), 4),
            "mean": round(sum(event.probs) / len(event.probs), 4),
            "windows": len(event.probs),
            **_clock(event.wall_clock),
        }]


class Alerter:
    def __init__(self, class_names: list[str], classes: list[str], threshold: float = 0.8,
                 min_duration: float = 1.0, cooldown: float = 30.0) -> None:
        unknown = [c for c in classes if c not in class_names]
        if unknown:
            raise ValueError(f"--alert {','.join(unknown)}: not a class of this model; its classes are "
                             f"{', '.join(class_names)}")
        if not 0.0 <= threshold <= 1.0 or min_duration < 0 or cooldown < 0:
            raise ValueError("--alert_threshold must be in [0, 1]; --alert_min_duration and "
                             "--alert_cooldown must be >= 0 seconds")
        self.class_names = class_names
        self.watched = [class_names.index(c) for c in classes]
        self.threshold, self.min_duration, self.cooldown = threshold, min_duration, cooldown
        self.since: dict[int, float] = {}  # class -> start of its current run above the threshold
        self.last: dict[int, float] = {}  # class -> time of its last alert

    def update(self, cell: tuple[float, float], probs: Tensor, wall: datetime | None = None) -> list[dict]:
        alerts = []
        for label in self.watched:
            confidence = float(probs[label])
            if confidence < self.threshold:
                self.since.pop(label, None)
                continue
            since = self.since.setdefault(label, cell[0])
            now = cell[1]
            cooled = label not in self.last or now - self.last[label] >= self.cooldown
            if now - since >= self.min_duration - 1e-9 and cooled:
                self.last[label] = now
                alerts.append({"type": "alert", "class": self.class_names[label], "time": round(now, 3),
                               "since": round(since, 3), "confidence": round(confidence, 4), **_clock(wall)})
        return alerts
