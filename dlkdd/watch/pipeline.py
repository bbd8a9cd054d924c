"""One source through the model: frames -> windows -> batched probabilities -> smoothing -> timeline,
events, alerts and the annotated video, all written as they go."""

from __future__ import annotations

import json
import statistics
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import torch

from dlkdd.data.sources import background_index
from dlkdd.inference import ClipModel
from dlkdd.watch.annotate import AnnotatedVideo
from dlkdd.watch.events import Alerter, EventTracker, NoAction
from dlkdd.watch.sinks import JsonLinesWriter, TimelineWriter
from dlkdd.watch.smoothing import MovingAverage
from dlkdd.watch.source import Frame, VideoSource
from dlkdd.watch.windows import Window, Windower, parse_hop


@dataclass
class WatchOptions:
    """How one source is watched (`dlkdd watch` builds its options from these fields and this text).

    Args:
        hop: between window starts: seconds (0.5, 0.5s) or frames (4f)
        batch_size: windows per forward pass (a live source runs what is ready, up to this)
        smooth: average the last N windows, causally (1: none)
        top_k: classes per timeline row and on the video
        event_enter: probability that opens an event
        event_exit: probability under which it ends
        min_event: shortest event kept, seconds
        open_set_threshold: top action probability under which a window is 'no confident action' (0: off)
        alert: classes to alert on
        alert_threshold: probability an alert's class must reach
        alert_min_duration: seconds it must stay there
        alert_cooldown: seconds before the same class alerts again
        timeline: the timeline file (.csv or .jsonl; None: none)
        events: the events file (None: none)
        video: the annotated mp4 (None: none)
        video_enhancer: brightens the annotated video only
        live: drop frames rather than fall behind (None: from the source: URL, device, pipe)
        queue_frames: live decoder queue; 0: one window's span plus one frame
        reconnect: reopen a dropped live stream N times
        reconnect_delay: seconds between reopenings
        timeout: seconds without data before a network source counts as lost (then reconnect)
        status_every: seconds between live latency lines on stderr (0: none)
        on_window: called with each window and its own probabilities
    """

    hop: str = "0.5s"
    batch_size: int = 8
    smooth: int = 1
    top_k: int = 3
    event_enter: float = 0.5
    event_exit: float = 0.35
    min_event: float = 0.5
    open_set_threshold: float = 0.0
    alert: list[str] = field(default_factory=list)
    alert_threshold: float = 0.8
    alert_min_duration: float = 1.0
    alert_cooldown: float = 30.0
    timeline: Path | None = None
    events: Path | None = None
    video: Path | None = None
    video_enhancer: torch.nn.Module | None = None
    live: bool | None = None
    queue_frames: int = 0
    reconnect: int = 3
    reconnect_delay: float = 1.0
    timeout: float = 10.0
    status_every: float = 5.0
    on_window: Callable[[Window, torch.Tensor], None] | None = None


@dataclass
class Summary:
    source: str
    live: bool
    frames: int = 0
    windows: int = 0
    media_seconds: float = 0.0
    wall_seconds: float = 0.0
    dropped_frames: int = 0
    reconnects: int = 0
    discontinuities: int = 0  # jumps of the source's clock (the timeline went on across each)
    damaged_packets: int = 0  # flagged corrupt by the demuxer (MPEG-TS: lost or damaged packets)
    decode_errors: int = 0  # packets the decoder rejected (skipped; the next keyframe recovers)
    ended: str = ""  # why the source stopped short, if it did
    events: int = 0
    alerts: int = 0
    latency: dict[str, float] = field(default_factory=dict)  # seconds, frame decoded -> result
    interrupted: bool = False
    name: str = ""  # the stream's name when several are watched at once

    @property
    def realtime_factor(self) -> float:
        return self.media_seconds / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def line(self) -> str:
        text = (f"{self.name} ({self.source})" if self.name else self.source) + (
                f": {self.frames} frames, {self.media_seconds:.1f} s "
                f"in {self.wall_seconds:.1f} s "
                f"({self.realtime_factor:.1f}x real time), {self.windows} windows, {self.events} events, "
                f"{self.alerts} alerts")
        if self.live:
            text += (f", {self.dropped_frames} frames dropped, latency {self.latency.get('median', 0):.2f} s "
                     f"(p95 {self.latency.get('p95', 0):.2f} s), {self.reconnects} reconnects")
        if self.live or self.discontinuities:
            text += f", {self.discontinuities} discontinuities"
        if self.live or self.damaged_packets or self.decode_errors:
            text += f", {self.damaged_packets} damaged packets, {self.decode_errors} undecodable"
        text += f" ({self.ended})" if self.ended else ""
        return text + (" (stopped by Ctrl-C)" if self.interrupted else "")


def _latency_stats(values: deque[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return {"median": statistics.median(ordered), "p95": p95, "max": ordered[-1]}


class StreamWatch:
    """One stream's state, from its frames to its files: its decoder, windows, smoothing, no-action
    decision, events, alerts, timeline, annotated video, latency and summary. The model is not here: the
    caller runs the windows `push` returns (alone, as `watch` does, or batched with other streams', as
    `watch_many` does) and hands the results to `take`, in order."""

    def __init__(self, source: str | Path, spec, names: list[str], options: WatchOptions,
                 stop: threading.Event, on_alert: Callable[[dict], None], log: Callable[[str], None],
                 label: str = "") -> None:
        if options.batch_size < 1:
            raise ValueError(f"--batch_size must be >= 1, got {options.batch_size}")
        self.spec, self.names, self.options, self.on_alert, self.log = spec, names, options, on_alert, log
        self.label = label  # the stream's name in status lines (several streams in one process)
        queue_frames = options.queue_frames or spec.span + 1
        self.source = VideoSource(source, spec.frame_size, options.live, queue_frames, options.reconnect,
                                  options.reconnect_delay, options.timeout, stopped=stop)
        self.summary = Summary(str(source), self.source.live, name=label)
        self.events = EventTracker(names, options.event_enter, options.event_exit, options.min_event)
        self.no_action = NoAction(background_index(names), options.open_set_threshold)
        self.alerter = Alerter(names, options.alert, options.alert_threshold, options.alert_min_duration,
                               options.alert_cooldown) if options.alert else None
        self.timeline = TimelineWriter(options.timeline, names, options.top_k) if options.timeline else None
        self.events_file = JsonLinesWriter(options.events) if options.events else None
        self.smoother = MovingAverage(options.smooth)
        self.fresh_from: deque[int] = deque()  # window indices from which smoothing starts afresh
        self.video: AnnotatedVideo | None = None
        self.windower: Windower | None = None
        self.latencies: deque[float] = deque(maxlen=4096)
        self.first_time: float | None = None
        self.last_time = 0.0
        self.began = self.last_status = time.monotonic()
        self.finished: float | None = None  # when its last window was taken

    def _record(self, item: dict) -> None:
        if self.events_file is not None:
            self.events_file.write(item)

    def push(self, frame: Frame) -> list[Window]:
        """The next decoded frame; returns the windows it completes, for the model."""
        source = self.source
        if self.windower is None:
            fps = float(source.fps)
            self.windower = Windower(self.spec.clip_len, self.spec.frame_stride, fps,
                                     parse_hop(self.options.hop, fps))
            if self.options.video is not None:
                self.video = AnnotatedVideo(self.options.video, self.names, source.fps, source.time_base,
                                            source.width, source.height, self.options.top_k,
                                            self.options.video_enhancer, self.options.event_enter)
            self.first_time = frame.time
            if source.live:  # a stream's pace starts with its first frame, not with the probing
                self.began = self.last_status = time.monotonic()
        self.summary.frames += 1
        self.last_time = frame.time
        for jump in frame.discontinuities:
            self._record(jump.record())
        if self.video is not None:
            self.video.add_frame(frame)
        windows = self.windower.push(frame)
        if frame.restarts or frame.after_gap:  # smoothing starts afresh from the next window on
            self.fresh_from.append(self.windower.next_index)
        return windows

    def flush(self) -> list[Window]:
        """At the end of the stream: its last windows."""
        return self.windower.flush() if self.windower is not None else []

    def take(self, windows: list[Window], probs: torch.Tensor) -> None:
        """The model's probabilities of windows from `push`/`flush`, in their order."""
        done = time.monotonic()
        for window, p in zip(windows, probs, strict=True):
            self.latencies.append(done - window.arrival)
            if self.options.on_window is not None:
                self.options.on_window(window, p)
            while self.fresh_from and window.index >= self.fresh_from[0]:
                self.fresh_from.popleft()
                self.smoother.reset()
            # The model's probabilities (timeline, video) and the actions' after the per-window no-action
            # decision (events, alerts), smoothed as one vector so that a gap resets both.
            p, actions = self.smoother(torch.cat([p, self.no_action(p)])).split(len(p))
            self.summary.windows += 1
            if self.timeline is not None:
                self.timeline.write(window, p)
            for event in self.events.update(window.cell, actions, _clock_at(window, window.cell[0])):
                self.summary.events += 1
                self._record(event)
            at_end = _clock_at(window, window.cell[1])
            for alert in self.alerter.update(window.cell, actions, at_end) if self.alerter else []:
                if self.source.live:
                    alert["latency"] = round(done - window.arrival, 3)
                self.summary.alerts += 1
                self._record(alert)
                self.on_alert(alert)
            if self.video is not None:
                self.video.add_result(window, p)

    def status(self) -> None:
        """A live stream's latency line on stderr, every `status_every` seconds."""
        now, every = time.monotonic(), self.options.status_every
        if not (self.source.live and every and self.first_time is not None) or now - self.last_status < every:
            return
        self.last_status = now
        stats = _latency_stats(self.latencies)
        name = f"{self.label}: " if self.label else ""
        self.log(f"[watch] {name}{self.last_time:.1f} s of stream, latency {stats.get('median', 0):.2f} s "
                 f"(p95 {stats.get('p95', 0):.2f} s), "
                 f"{(self.last_time - self.first_time) / (now - self.began):.2f}x real time, "
                 f"{self.source.dropped} frames dropped")

    def finish(self) -> None:
        """The stream's windows are all taken: its open event closes."""
        self.finished = time.monotonic()
        for event in self.events.finish():
            self.summary.events += 1
            self._record(event)

    def close(self, interrupted: bool = False) -> Summary:
        """Stop the decoder, close the files (complete whatever happened) and say what was seen."""
        source, summary = self.source, self.summary
        source.stop()
        for sink in (self.timeline, self.events_file, self.video):
            if sink is not None:
                sink.close()
        summary.interrupted = interrupted
        summary.wall_seconds = (self.finished or time.monotonic()) - self.began
        if self.first_time is not None:
            # The source's media time, to its last frame decoded (a live decoder may have dropped it).
            summary.media_seconds = source.clock.last_time - self.first_time + 1.0 / float(source.fps)
        summary.dropped_frames, summary.reconnects = source.dropped, source.reconnects
        summary.discontinuities, summary.ended = source.discontinuities, summary.ended or source.ended
        summary.damaged_packets, summary.decode_errors = source.damaged_packets, source.decode_errors
        summary.latency = _latency_stats(self.latencies)
        return summary


def class_names(model: ClipModel) -> list[str]:
    return model.spec.class_names or [str(k) for k in range(model_classes(model))]


def run_model(model: ClipModel, windows: list[Window]) -> torch.Tensor:
    """One forward pass over windows (of any streams): (N, K) probabilities."""
    return model.probabilities(torch.from_numpy(np.stack([w.frames for w in windows])))


def watch(source: str | Path, model: ClipModel, options: WatchOptions, stop: threading.Event | None = None,
          on_alert: Callable[[dict], None] | None = None, on_progress: Callable[[float], None] | None = None,
          log: Callable[[str], None] | None = None) -> Summary:
    """Run `model` over `source`; `stop` (set by Ctrl-C) ends it early with every file complete.
    `on_alert` gets each alert (default: one JSON line on stdout); `on_progress` the media time."""
    stop = stop if stop is not None else threading.Event()
    stream = StreamWatch(source, model.spec, class_names(model), options, stop, on_alert or print_alert,
                         log or log_line)
    frames_in = stream.source

    def process(windows: list[Window]) -> None:
        if windows:
            stream.take(windows, run_model(model, windows))

    pending: list[Window] = []
    interrupted = False
    try:
        for frame in frames_in:
            pending += stream.push(frame)
            if len(pending) >= options.batch_size or (frames_in.live and pending and not frames_in.pending()):
                process(pending)
                pending = []
                if on_progress is not None:
                    on_progress(frame.time)
            stream.status()
            if stop.is_set():
                break
        interrupted = stop.is_set()
        process(pending + stream.flush())
        stream.finish()
    finally:
        summary = stream.close(interrupted)
    return summary


def print_alert(alert: dict) -> None:
    print(json.dumps(alert), flush=True)


def log_line(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _clock_at(window: Window, t: float) -> datetime | None:
    """The wall clock at media time `t`, from the window's first frame's."""
    return window.wall_clock + timedelta(seconds=t - window.start) if window.wall_clock is not None else None


def model_classes(model: ClipModel) -> int:
    """The number of classes of a model whose file names none (one probe of a blank clip)."""
    spec = model.spec
    blank = torch.zeros(1, spec.clip_len, *spec.frame_size, 3, dtype=torch.uint8)
    return int(model.probabilities(blank).shape[1])
