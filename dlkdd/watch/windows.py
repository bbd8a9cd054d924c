"""Sliding windows over a stream of frames: the model's clip, placed by time.

A window is the clip the model was trained on: `clip_len` frames `frame_stride` apart at the source's
nominal fps, so it lasts span / fps seconds (span = (clip_len - 1) * frame_stride + 1). Window k starts
at k * hop seconds. Its j-th frame is the frame shown at start + j * stride / fps: the last frame whose
time is at or before it (half a frame of tolerance), so variable frame rates and odd fps cut the same
clip a constant-rate decode would (a missing frame repeats the one before, as in dlkdd's clip decoder).

Frames live in a ring that holds only what a future window can still sample: overlapping windows
share decoded frames, and memory is bounded by one window plus one hop, whatever the length.

A window never spans a discontinuity of the source's clock (a frame that `restarts`): the windows the
frames before it complete are cut, and the next window starts at that frame.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from dlkdd.watch.source import Frame


@dataclass
class Window:
    index: int
    start: float  # seconds: the first sampled frame's time
    end: float  # seconds: the last sampled frame's time plus one frame
    cell: tuple[float, float]  # the stretch of time this window speaks for in events (hop-wide)
    frames: np.ndarray  # uint8 (T, H, W, 3)
    times: list[float]  # each sampled frame's time
    wall_clock: datetime | None  # the first frame's
    arrival: float  # monotonic time its last frame was decoded (latency counts from there)


def parse_hop(text: str, fps: float) -> float:
    """'0.5' or '0.5s' -> seconds; '4f' -> 4 frames at `fps`, in seconds."""
    value = text.strip().lower()
    try:
        seconds = float(value[:-1]) / fps if value.endswith("f") else float(value.removesuffix("s"))
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise ValueError(f"--hop {text!r}: give a positive number of seconds (0.5, 0.5s) or frames (4f)")
    return seconds


class Windower:
    """Frames in (in time order), complete windows out."""

    def __init__(self, clip_len: int, frame_stride: int, fps: float, hop: float) -> None:
        self.fps, self.hop = float(fps), float(hop)
        self.offsets = [j * frame_stride / self.fps for j in range(clip_len)]
        self.duration = ((clip_len - 1) * frame_stride + 1) / self.fps
        self.tolerance = 0.5 / self.fps
        self.ring: deque[Frame] = deque()
        self.next_index = 0
        self.origin = 0.0  # window k starts at origin + k * hop

    @property
    def next_start(self) -> float:
        return self.origin + self.next_index * self.hop

    def push(self, frame: Frame) -> list[Window]:
        """Add the next frame; returns the windows it completes (its time is past their last sample)."""
        if frame.restarts:  # another stretch of media: the last one's windows end here
            out = self.flush()
            self.origin = frame.time - self.next_index * self.hop
            self.ring.append(frame)
            return out
        if frame.after_gap and self.ring:  # live frames were dropped: windows over the gap are skipped
            self.ring.clear()
            self.next_index = max(self.next_index, math.ceil((frame.time - self.origin) / self.hop - 1e-9))
        out = []
        while self.ring and frame.time > self.next_start + self.offsets[-1] + self.tolerance:
            out.append(self._cut())
        self.ring.append(frame)
        self._trim()
        return out

    def flush(self) -> list[Window]:
        """At the end of the stream: the windows whose last sample the last frame reaches."""
        out = []
        while self.ring and self.ring[-1].time >= self.next_start + self.offsets[-1] - self.tolerance:
            out.append(self._cut())
        self.ring.clear()
        return out

    def _cut(self) -> Window:
        start = self.next_start
        times = [f.time for f in self.ring]
        picks = []
        for offset in self.offsets:
            limit = start + offset + self.tolerance
            i = next((k for k in range(len(times) - 1, -1, -1) if times[k] <= limit), 0)
            picks.append(self.ring[i])
        first, last = picks[0], picks[-1]
        middle = (first.time + last.time + 1.0 / self.fps) / 2
        half = min(self.hop, self.duration) / 2
        window = Window(self.next_index, first.time, last.time + 1.0 / self.fps,
                        (middle - half, middle + half), np.stack([f.image for f in picks]),
                        [f.time for f in picks], first.wall_clock, max(f.arrival for f in picks))
        self.next_index += 1
        self._trim()
        return window

    def _trim(self) -> None:
        """Keep the last frame at or before the next window's start, and what follows it."""
        limit = self.next_start + self.tolerance
        while len(self.ring) >= 2 and self.ring[1].time <= limit:
            self.ring.popleft()
