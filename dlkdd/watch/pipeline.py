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
from dlkdd.watch.source import VideoSource
from dlkdd.watch.windows import Window, Windower, parse_hop


@dataclass
class WatchOptions:
    hop: str = "0.5s"  # seconds ('0.5', '0.5s') or frames ('4f') between window starts
    batch_size: int = 8  # windows per forward pass (a live source runs what is ready, up to this)
    smooth: int = 1  # windows averaged (causal); 1 = none
    top_k: int = 3
    event_enter: float = 0.5
    event_exit: float = 0.35
    min_event: float = 0.5  # seconds
    open_set_threshold: float = 0.0  # action MSP under which a window is "no confident action" (0: off)
    alert: list[str] = field(default_factory=list)
    alert_threshold: float = 0.8
    alert_min_duration: float = 1.0
    alert_cooldown: float = 30.0
    timeline: Path | None = None
    events: Path | None = None
    video: Path | None = None
    video_enhancer: torch.nn.Module | None = None  # brightens the annotated video only
    live: bool | None = None  # None: from the source (URL, device, pipe)
    queue_frames: int = 0  # live decoder queue; 0: one window's span plus one frame
    reconnect: int = 3
    reconnect_delay: float = 1.0
    timeout: float = 10.0  # seconds without data before a network source counts as lost
    status_every: float = 5.0  # seconds between live status lines on stderr (0: none)
    on_window: Callable[[Window, torch.Tensor], None] | None = None  # each window's own probabilities


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

    @property
    def realtime_factor(self) -> float:
        return self.media_seconds / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def line(self) -> str:
        text = (f"{self.source}: {self.frames} frames, {self.media_seconds:.1f} s "
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


def watch(source: str | Path, model: ClipModel, options: WatchOptions, stop: threading.Event | None = None,
          on_alert: Callable[[dict], None] | None = None, on_progress: Callable[[float], None] | None = None,
          log: Callable[[str], None] | None = None) -> Summary:
    """Run `model` over `source`; `stop` (set by Ctrl-C) ends it early with every file complete.
    `on_alert` gets each alert (default: one JSON line on stdout); `on_progress` the media time."""
    spec = model.spec
    stop = stop if stop is not None else threading.Event()
    on_alert = on_alert or (lambda alert: print(json.dumps(alert), flush=True))
    log = log or (lambda text: print(text, file=sys.stderr, flush=True))
    queue_frames = options.queue_frames or spec.span + 1
    frames_in = VideoSource(source, spec.frame_size, options.live, queue_frames, options.reconnect,
                            options.reconnect_delay, options.timeout, stopped=stop)
    summary = Summary(str(source), frames_in.live)
    names = spec.class_names or [str(k) for k in range(model_classes(model))]
    events = EventTracker(names, options.event_enter, options.event_exit, options.min_event)
    no_action = NoAction(background_index(names), options.open_set_threshold)
    alerter = Alerter(names, options.alert, options.alert_threshold, options.alert_min_duration,
                      options.alert_cooldown) if options.alert else None
    if options.batch_size < 1:
        raise ValueError(f"--batch_size must be >= 1, got {options.batch_size}")
    timeline = TimelineWriter(options.timeline, names, options.top_k) if options.timeline else None
    events_file = JsonLinesWriter(options.events) if options.events else None
    smoother = MovingAverage(options.smooth)
    video: AnnotatedVideo | None = None
    windower: Windower | None = None
    latencies: deque[float] = deque(maxlen=4096)
    first_time = None
    began = last_status = time.monotonic()

    def record(item: dict) -> None:
        if events_file is not None:
            events_file.write(item)

    def process(windows: list[Window]) -> None:
        if not windows:
            return
        probs = model.probabilities(torch.from_numpy(np.stack([w.frames for w in windows])))
        done = time.monotonic()
        for window, p in zip(windows, probs, strict=True):
            latencies.append(done - window.arrival)
            if options.on_window is not None:
                options.on_window(window, p)
            # The model's probabilities (timeline, video) and the actions' after the per-window no-action
            # decision (events, alerts), smoothed as one vector so that a gap resets both.
            p, actions = smoother(torch.cat([p, no_action(p)])).split(len(p))
            summary.windows += 1
            if timeline is not None:
                timeline.write(window, p)
            for event in events.update(window.cell, actions, _clock_at(window, window.cell[0])):
                summary.events += 1
                record(event)
            at_end = _clock_at(window, window.cell[1])
            for alert in alerter.update(window.cell, actions, at_end) if alerter else []:
                if frames_in.live:
                    alert["latency"] = round(done - window.arrival, 3)
                summary.alerts += 1
                record(alert)
                on_alert(alert)
            if video is not None:
                video.add_result(window, p)

    pending: list[Window] = []
    interrupted = False
    try:
        for frame in frames_in:
            if windower is None:
                fps = float(frames_in.fps)
                windower = Windower(spec.clip_len, spec.frame_stride, fps, parse_hop(options.hop, fps))
                if options.video is not None:
                    video = AnnotatedVideo(options.video, names, frames_in.fps, frames_in.time_base,
                                           frames_in.width, frames_in.height, options.top_k,
                                           options.video_enhancer, options.event_enter)
                first_time = frame.time
                if frames_in.live:  # a stream's pace starts with its first frame, not with the probing
                    began = last_status = time.monotonic()
            summary.frames += 1
            for jump in frame.discontinuities:
                record(jump.record())
            if video is not None:
                video.add_frame(frame)
            pending += windower.push(frame)
            if options.smooth > 1 and (frame.restarts or frame.after_gap):  # smoothing starts afresh here,
                process(pending)  # after the windows before it (smoothed with their own past)
                pending = []
                smoother.reset()
            if len(pending) >= options.batch_size or (frames_in.live and pending and not frames_in.pending()):
                process(pending)
                pending = []
                if on_progress is not None:
                    on_progress(frame.time)
            now = time.monotonic()
            if frames_in.live and options.status_every and now - last_status >= options.status_every:
                last_status = now
                stats = _latency_stats(latencies)
                log(f"[watch] {frame.time:.1f} s of stream, latency {stats.get('median', 0):.2f} s "
                    f"(p95 {stats.get('p95', 0):.2f} s), "
                    f"{(frame.time - first_time) / (now - began):.2f}x real time, "
                    f"{frames_in.dropped} frames dropped")
            if stop.is_set():
                break
        interrupted = stop.is_set()
        if windower is not None:
            pending += windower.flush()
        process(pending)
        for event in events.finish():
            summary.events += 1
            record(event)
    finally:
        frames_in.stop()
        for sink in (timeline, events_file, video):
            if sink is not None:
                sink.close()
    summary.interrupted = interrupted
    summary.wall_seconds = time.monotonic() - began
    if first_time is not None:
        # The source's media time, to its last frame decoded (a live decoder may have dropped it).
        summary.media_seconds = frames_in.clock.last_time - first_time + 1.0 / float(frames_in.fps)
    summary.dropped_frames, summary.reconnects = frames_in.dropped, frames_in.reconnects
    summary.discontinuities, summary.ended = frames_in.discontinuities, frames_in.ended
    summary.damaged_packets, summary.decode_errors = frames_in.damaged_packets, frames_in.decode_errors
    summary.latency = _latency_stats(latencies)
    return summary


def _clock_at(window: Window, t: float) -> datetime | None:
    """The wall clock at media time `t`, from the window's first frame's."""
    return window.wall_clock + timedelta(seconds=t - window.start) if window.wall_clock is not None else None


def model_classes(model: ClipModel) -> int:
    """The number of classes of a model whose file names none (one probe of a blank clip)."""
    spec = model.spec
    blank = torch.zeros(1, spec.clip_len, *spec.frame_size, 3, dtype=torch.uint8)
    return int(model.probabilities(blank).shape[1])
