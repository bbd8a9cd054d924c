"""Many live sources, one process, one model: windows of every stream batched into one forward pass.

Each source has its own decoder thread and short queue (a stream that cannot keep up drops frames at
its own decoder, counted in its own summary) and its own `StreamWatch` (windows, smoothing, events,
alerts, files, latency): the same code a single `dlkdd watch` runs. The one loop here takes whatever
frames have arrived from every stream, and runs the windows they complete as one batch as soon as
`batch_size` are ready or the oldest has waited `batch_wait` seconds (NVIDIA DeepStream's nvstreammux
forms its batches the same way: full, or after its batched-push-timeout). So a slow stream never holds
the others back by more than `batch_wait`, and a dead one only ends itself: a source that cannot be
opened, or is lost for good, closes its own files with its error in its own summary.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dlkdd.inference import ClipModel
from dlkdd.watch.pipeline import (
    StreamWatch,
    Summary,
    WatchOptions,
    class_names,
    log_line,
    print_alert,
    run_model,
)
from dlkdd.watch.windows import Window


@dataclass
class Camera:
    """One live source of a multi-stream watch: its address, its name (for its files and lines) and its
    own options (output files, alert settings)."""

    source: str | Path
    name: str
    options: WatchOptions


def watch_many(cameras: list[Camera], model: ClipModel, batch_size: int = 8, batch_wait: float = 0.05,
               stop: threading.Event | None = None, on_alert: Callable[[dict], None] | None = None,
               log: Callable[[str], None] | None = None) -> list[Summary]:
    """Follow every camera until each has ended (or `stop` is set); one summary per camera, in order.
    Alerts go to `on_alert` (default: a JSON line on stdout) with the camera's name as "stream"."""
    if batch_size < 1 or batch_wait < 0:
        raise ValueError(f"--batch_size must be >= 1 and --batch_wait >= 0 s, got {batch_size} and "
                         f"{batch_wait}")
    stop = stop if stop is not None else threading.Event()
    on_alert, log = on_alert or print_alert, log or log_line
    names = class_names(model)
    arrived = threading.Event()  # set by any decoder that hands something over
    streams: list[StreamWatch] = []
    try:
        for camera in cameras:
            def tagged(alert: dict, name: str = camera.name) -> None:
                on_alert({"stream": name, **alert})
            stream = StreamWatch(camera.source, model.spec, names, camera.options, stop, tagged, log,
                                 label=camera.name)
            streams.append(stream)
        for stream in streams:
            if not stream.source.live:
                raise ValueError(f"SOURCE {stream.source.source}: not a live source; several sources in one "
                                 "process are live streams (files go one after another, or pass --live on)")
            stream.source.start(arrived)
        _follow(streams, model, batch_size, batch_wait, stop, arrived)
    finally:
        summaries = [stream.close(stop.is_set()) for stream in streams]
    return summaries


def _follow(streams: list[StreamWatch], model: ClipModel, batch_size: int, batch_wait: float,
            stop: threading.Event, arrived: threading.Event) -> None:
    active = list(streams)
    ready: list[tuple[StreamWatch, Window]] = []
    oldest = 0.0  # when the oldest ready window became ready
    while active and not stop.is_set():
        arrived.clear()  # before looking: whatever comes after this wakes the wait below
        ended = []
        for stream in active:
            before = len(ready)
            try:
                while (frame := stream.source.poll()) is not None:
                    ready += [(stream, w) for w in stream.push(frame)]
            except Exception as err:  # noqa: BLE001 (a broken source ends itself, said in its summary)
                stream.summary.ended = str(err)
            if stream.source.done:
                ready += [(stream, w) for w in stream.flush()]
                ended.append(stream)
            if before == 0 and ready:
                oldest = time.monotonic()
        waited = time.monotonic() - oldest
        if ready and (len(ready) >= batch_size or waited >= batch_wait or ended):
            for k in range(0, len(ready), batch_size):
                _run(model, ready[k:k + batch_size])
            ready = []
        for stream in ended:
            stream.finish()
            active.remove(stream)
        for stream in active:
            stream.status()
        if active and not stop.is_set():
            arrived.wait(timeout=max(0.0, batch_wait - waited) if ready else 0.1)
    for stream in active:  # stopped (Ctrl-C): the windows the frames so far complete, then the end
        ready += [(stream, w) for w in stream.flush()]
    for k in range(0, len(ready), batch_size):
        _run(model, ready[k:k + batch_size])
    for stream in active:
        stream.finish()


def _run(model: ClipModel, batch: list[tuple[StreamWatch, Window]]) -> None:
    """One forward pass over windows of several streams; each stream takes its own, in order."""
    probs = run_model(model, [w for _, w in batch])
    by_stream: dict[int, tuple[StreamWatch, list[Window], list[int]]] = {}
    for k, (stream, window) in enumerate(batch):
        by_stream.setdefault(id(stream), (stream, [], []))
        by_stream[id(stream)][1].append(window)
        by_stream[id(stream)][2].append(k)
    for stream, windows, rows in by_stream.values():
        stream.take(windows, probs[rows])
