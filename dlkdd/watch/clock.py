"""Media time that only moves forward: a source's frame timestamps -> seconds since its first frame.

Within one run of a clock the times are the source's own (exact differences of its timestamps, so a
variable frame rate keeps its rhythm). A timestamp that does not follow is a discontinuity:

- backward: not after the previous frame's (an encoder or camera restarting its clock, NVR exports made
  of concatenated segments);
- forward: more than `tolerance` after it (FFmpeg's own -dts_delta_threshold, 10 s, or ten frame
  periods if longer), checked where a jump is a fault, not the recording's content: live sources and
  formats whose timestamps may jump (FFmpeg's AVFMT_TS_DISCONT: MPEG-TS, MPEG-PS, HLS). In an MP4 or
  MKV a long gap is a held frame, kept as it is.

Either way the timeline goes on one frame period after the previous frame, or, for a live source, by
the time that passed between the two frames' arrivals when that is longer (a camera that was silent
for 5 s and came back with a new clock left 5 s of real time).

A jump of one whole 33-bit period (2**33 ticks of the 90 kHz clock MPEG streams use) that lands where
the next frame belongs is a wrap: time continues exactly, no time is lost. FFmpeg's demuxer unwraps the
clock only within one period around the stream's first timestamp (libavformat's wrap_timestamp), so a
stream that runs 26.5 hours past it, or whose clock restarts just below it, shows such a jump. On a
90 kHz clock a jump is reported as its shortest equivalent modulo 2**33 (a restart the demuxer turned
into +26 hours is the jump back it was).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

MPEG_CLOCK = Fraction(1, 90000)
WRAP_TICKS = 2**33  # the MPEG system clock's period (26.5 hours at 90 kHz)
FORWARD_LIMIT = 10.0  # seconds: FFmpeg's -dts_delta_threshold for formats with discontinuous timestamps


@dataclass
class Discontinuity:
    time: float  # seconds on the timeline: the first frame after it
    jump: float  # seconds the source's own timestamps jumped (negative: back)
    kind: str  # "backward", "forward" or "wrap"

    @property
    def restarts(self) -> bool:
        """A wrap loses no time: windows may run across it. The others are a new stretch of media."""
        return self.kind != "wrap"

    def record(self) -> dict:
        """Its line in the events file."""
        return {"type": "discontinuity", "kind": self.kind, "time": round(self.time, 3),
                "jump": round(self.jump, 3)}


class MediaClock:
    """Call with each frame's pts (in order of presentation); get its time and any discontinuity."""

    def __init__(self) -> None:
        self.anchor_pts: int | None = None  # the time of a frame with pts p is anchor_time + (p - anchor_pts)
        self.anchor_time = 0.0
        self.last_pts: int | None = None
        self.last_time = 0.0
        self.last_arrival: float | None = None
        self.time_base = MPEG_CLOCK

    def open(self, time_base: Fraction, frame_period: float, forward_jumps: bool, live: bool) -> None:
        """A new opening of the source (the first, or a reconnection): its next frame starts a new
        stretch one frame period (live: the time since the last arrival, if longer) after the last."""
        self.time_base, self.frame_period, self.live = time_base, frame_period, live
        self.tolerance = max(FORWARD_LIMIT, 10 * frame_period)
        self.forward_jumps = forward_jumps
        self.wrap = WRAP_TICKS if time_base == MPEG_CLOCK else None
        self.last_pts = None

    def __call__(self, pts: int, arrival: float,
                 start: int | None = None) -> tuple[float, Discontinuity | None]:
        """`start`: the pts that counts as time 0 (a file's start time), for the very first frame only."""
        found = None
        if self.anchor_pts is None:
            self.anchor_pts = min(pts, start) if start is not None else pts
        elif self.last_pts is None:  # the first frame of a reopened source
            self._restart(pts, arrival)
        else:
            step = float((pts - self.last_pts) * self.time_base)
            if not self._follows(step):
                wraps = (self.wrap, -self.wrap) if self.wrap else ()  # only a 90 kHz clock wraps
                unwrapped = next((w for w in wraps if 0 < float(
                    (pts + w - self.last_pts) * self.time_base) <= self.tolerance), None)
                if unwrapped is not None:
                    self.anchor_pts -= unwrapped
                    found = Discontinuity(0.0, step, "wrap")
                else:
                    self._restart(pts, arrival)
                    if self.wrap:
                        period = float(self.wrap * self.time_base)
                        step = (step + period / 2) % period - period / 2
                    found = Discontinuity(0.0, step, "backward" if step <= 0 else "forward")
        self.last_pts, self.last_arrival = pts, arrival
        self.last_time = self.anchor_time + float((pts - self.anchor_pts) * self.time_base)
        if found is not None:
            found.time = self.last_time
        return self.last_time, found

    def _follows(self, step: float) -> bool:
        return step > 0 and (not self.forward_jumps or step <= self.tolerance)

    def _restart(self, pts: int, arrival: float) -> None:
        gap = self.frame_period
        if self.live and self.last_arrival is not None:
            gap = max(gap, arrival - self.last_arrival)
        self.anchor_pts, self.anchor_time = pts, self.last_time + gap
