"""Frames of a recording or a live stream, decoded once, in order, with their times in seconds.

A file is decoded in the caller's thread, every frame (nothing is dropped: the result is the same
whatever the machine's speed). A live source (a URL, a V4L2 device, a pipe or FIFO) is decoded in a
thread of its own into a short queue; when the consumer is slower than the stream the queue is full
and the decoder drops the newest frames (before any pixel conversion), counts them and marks the next
frame it keeps as following a gap, so the results never fall behind the stream. A dropped live stream
is reopened `reconnect` times, its times continuing where the last stream stopped.

Times come from a `MediaClock`: they only move forward, across clock restarts and wraps in the stream
(each a counted `Discontinuity` on the frame after it). A live source's timeline starts at its first
decoded frame (joined mid-stream, that is the first keyframe). Damaged input is counted, not fatal: a
packet the demuxer flags corrupt (an MPEG-TS continuity-counter gap: lost datagrams) and a packet the
decoder rejects are skipped and the decoding goes on.
"""

from __future__ import annotations

import os
import queue
import stat
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from dlkdd.video import Resize, frame_rate
from dlkdd.watch.clock import Discontinuity, MediaClock


@dataclass
class Frame:
    """One decoded frame. `image` (at the model's frame size) is converted from `video` in swscale on
    first use, so frames no window samples (a hop longer than the window) never pay for it."""

    video: av.VideoFrame
    time: float  # seconds since the source's first frame (a non-zero stream start time counts as 0)
    resize: Resize
    wall_clock: datetime | None = None  # when the source says it was filmed (live: when it arrived)
    arrival: float = 0.0  # time.monotonic() when the decoder delivered it
    after_gap: bool = False  # live: frames just before this one were dropped
    discontinuities: list[Discontinuity] = field(default_factory=list)  # just before it (dropped ones too)
    _image: np.ndarray | None = field(default=None, repr=False)

    @property
    def restarts(self) -> bool:
        """The media before it is another stretch: windows and smoothing start afresh here."""
        return any(d.restarts for d in self.discontinuities)

    @property
    def image(self) -> np.ndarray:
        if self._image is None:
            self._image = self.resize(self.video)
        return self._image


def is_live(source: str) -> bool:
    """A URL, a device or a pipe: read as it comes, never faster than it is produced."""
    if "://" in source or source == "-" or source.startswith("/dev/"):
        return True
    return _is_fifo(source)


def _is_fifo(path: str) -> bool:
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except OSError:
        return False


# FFmpeg's UDP input options (libavformat/udp.c), in the units it takes; a URL's own ?key=value wins.
UDP_OPTIONS = {
    "buffer_size": str(8 * 2**20),  # socket receive buffer, bytes (the kernel caps it at net.core.rmem_max)
    "fifo_size": str(64 * 1024),  # FFmpeg's own ring of 188-byte packets (12 MB), filled by its own thread
    "overrun_nonfatal": "1",  # a full ring loses datagrams (counted as damaged packets) instead of ending
}


def source_error(source: str, err: BaseException, timeout: float) -> str:
    """What FFmpeg said, without errno numbers, and what to check."""
    said = _said(err, timeout)
    scheme = source.split("://")[0].lower() if "://" in source else ""
    if isinstance(err, av.ExitError):
        check = ("the address and port, that the sender sends to this machine (a firewall, multicast "
                 "routing) and that it is running")
    elif isinstance(err, av.ProtocolNotFoundError):
        check = (f"this FFmpeg (PyAV {av.__version__}) does not read {scheme}://; it reads file, pipe, "
                 "http(s), rtsp, rtp, udp and tcp")
    elif isinstance(err, (av.error.HTTPError, av.error.HTTPClientError, av.error.HTTPServerError)):
        check = "the URL's path and any user name and password in it"
    elif isinstance(err, ConnectionError):
        check = "the host and port, and that the camera or server is running"
    elif isinstance(err, av.InvalidDataError):
        check = "that it is the video stream itself (not a web page or a playlist of another format)"
    elif isinstance(err, FileNotFoundError):
        check = "the path"
    else:
        check = "the source's address, and that FFmpeg can play it"
    return f"SOURCE {source}: {said}. Check {check}."


def _creation_time(container: av.container.InputContainer) -> datetime | None:
    value = container.metadata.get("creation_time")
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


class VideoSource:
    """Iterate over the `Frame`s of `source`. Once the first frame is out, `fps`, `width`, `height`,
    `time_base` and `duration` (None when unknown) describe the stream; `dropped` counts the frames a
    live decoder dropped, `reconnects` the reopenings, `discontinuities` the clock's jumps,
    `damaged_packets` the packets the demuxer flagged corrupt and `decode_errors` the ones the decoder
    rejected."""

    def __init__(self, source: str | Path, frame_size: tuple[int, int], live: bool | None = None,
                 queue_frames: int = 32, reconnect: int = 0, reconnect_delay: float = 1.0,
                 timeout: float = 10.0, stopped: threading.Event | None = None) -> None:
        self.source = str(source)
        self.live = is_live(self.source) if live is None else live
        self.frame_size = tuple(frame_size)
        self.queue_frames, self.reconnect, self.reconnect_delay = queue_frames, reconnect, reconnect_delay
        self.timeout = timeout
        self.dropped = self.reconnects = 0
        self.discontinuities = self.damaged_packets = self.decode_errors = self.packets = 0
        self.ended = ""  # why the frames stopped short (live: why the stream stopped)
        self.interrupt = stopped if stopped is not None else threading.Event()  # the caller's (Ctrl-C)
        self.finished = threading.Event()  # set by stop(): the consumer is done
        self.fps: Fraction = Fraction(25)
        self.time_base: Fraction = Fraction(1, 90000)
        self.width = self.height = 0
        self.duration: float | None = None
        self.clock = MediaClock()
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, queue_frames))
        self._arrived: threading.Event | None = None
        self.done = False  # poll() took the last item

    def stop(self) -> None:
        self.finished.set()

    @property
    def stopping(self) -> bool:
        return self.interrupt.is_set() or self.finished.is_set()

    def pending(self) -> int:
        """Frames decoded and waiting (live); 0 for a file."""
        return self._queue.qsize() if self.live else 0

    def _open(self, pipe=None) -> av.container.InputContainer:
        name = sys.stdin.buffer if self.source == "-" else pipe or self.source
        kwargs = {"timeout": self.timeout} if "://" in self.source else {}
        fmt = "v4l2" if self.source.startswith("/dev/video") else None
        # Live: probe a little (about half a second) before the first frame, not FFmpeg's 5 s / 5 MB.
        options = {"probesize": "32768", "analyzeduration": "500000"} if self.live else {}
        if self.source.lower().startswith("udp://"):
            options |= {**UDP_OPTIONS, "timeout": str(round(self.timeout * 1e6))}  # microseconds
        try:
            return av.open(name, format=fmt, options=options, **kwargs)
        except (av.FFmpegError, OSError) as err:
            raise FileNotFoundError(source_error(self.source, err, self.timeout)) from None

    def _decode(self) -> Iterator[Frame]:
        """One forward pass over one opening of the source, its times from the source's clock."""
        # A FIFO is opened here, not by FFmpeg: FFmpeg's open() waits for a writer holding Python's
        # lock, which would freeze the whole process (Ctrl-C included) meanwhile. Raw: a read returns
        # what has come.
        with (open(self.source, "rb", buffering=0) if _is_fifo(self.source) else nullcontext()) as pipe, \
                self._open(pipe) as container:
            if not container.streams.video:
                raise FileNotFoundError(f"SOURCE {self.source}: has no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            self.fps, self.time_base = frame_rate(stream), stream.time_base or Fraction(1, 90000)
            if stream.duration is not None and stream.time_base is not None:
                self.duration = float(stream.duration * stream.time_base)
            elif container.duration is not None and not self.live:
                self.duration = container.duration / av.time_base
            # A jump forward is a fault where timestamps may jump (MPEG-TS...) or the source is live.
            jumps = self.live or bool(container.format.flags & av.format.Flags.ts_discont.value)
            self.clock.open(self.time_base, 1.0 / float(self.fps), forward_jumps=jumps, live=self.live)
            # A file's start time counts as 0; a live stream starts at its first decodable frame.
            start = None if self.live else stream.start_time
            # A raw elementary stream file (.h264, .hevc from DVR exports) carries no timestamps: frame k
            # is shown at k / fps, as the clip decoder (dlkdd.data.decode) counts it.
            untimed = not self.live and stream.start_time is None
            filmed = _creation_time(container)
            resize, decoded = None, 0
            try:
                for packet in container.demux(stream):
                    self.packets += 1
                    self.damaged_packets += packet.is_corrupt
                    try:
                        frames = packet.decode()
                    except av.InvalidDataError:  # damaged or missing data: the next keyframe recovers
                        self.decode_errors += 1
                        continue
                    for frame in frames:
                        pts = frame.pts
                        if pts is None and untimed:
                            pts = round(decoded / self.fps / self.time_base)
                        decoded += 1
                        if pts is None:
                            continue
                        if resize is None:
                            resize = Resize(frame, *self.frame_size)
                            self.width, self.height = frame.width, frame.height
                        arrival = time.monotonic()
                        t, jump = self.clock(pts, arrival, start)
                        if jump is not None:
                            self.discontinuities += 1
                        if filmed is not None:
                            wall = filmed + timedelta(seconds=t)
                        else:
                            wall = datetime.now().astimezone() if self.live else None
                        yield Frame(frame, t, resize, wall, arrival, discontinuities=[jump] if jump else [])
                        if self.stopping:
                            return
            except av.FFmpegError as err:
                if not self.live:  # a damaged tail of a file: what was decoded stands, and is said
                    self.ended = f"unreadable after {self.clock.last_time:.1f} s ({_said(err, self.timeout)})"
                    return
                raise

    def __iter__(self) -> Iterator[Frame]:
        if not self.live:
            yield from self._decode()
            return
        self.start()
        while True:
            try:
                item = self._queue.get(timeout=0.1)
            except queue.Empty:
                if self.stopping:
                    return
                continue
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def start(self, arrived: threading.Event | None = None) -> None:
        """Live: start decoding in a thread of its own; `arrived` (shared by several sources) is set
        whenever a frame, an error or the end is handed over."""
        self._arrived = arrived
        threading.Thread(target=self._live_decoder, daemon=True, name="dlkdd-watch-decoder").start()

    def poll(self) -> Frame | None:
        """Live, once started: the next frame, or None when none is waiting or the source is `done`;
        raises the decoder's error (a source that cannot be opened, or lost before its first frame)."""
        if self.done:
            return None
        try:
            item = self._queue.get_nowait()
        except queue.Empty:
            return None
        if item is None or isinstance(item, BaseException):
            self.done = True
            if item is not None:
                raise item
        return item

    def _live_decoder(self) -> None:
        """Decode into the queue; a full queue drops the frame (its discontinuities go with the next
        one kept); reopen a dropped stream, `reconnect` times in all. A source that never opened is
        the caller's error; a lost one just ends."""
        gap, delivered, jumps = False, False, []
        try:
            while True:
                try:
                    for frame in self._decode():
                        delivered = True
                        if self._queue.full():
                            self.dropped += 1
                            gap = True
                            jumps += frame.discontinuities
                            continue
                        frame.after_gap, gap = gap, False
                        frame.discontinuities, jumps = jumps + frame.discontinuities, []
                        self._queue.put(frame)
                        if self._arrived is not None:
                            self._arrived.set()
                    self.ended = "the stream ended"
                except (av.FFmpegError, OSError) as err:
                    if not delivered and self.reconnects >= self.reconnect:
                        if isinstance(err, FileNotFoundError):  # already said by _open
                            raise
                        if self.packets:
                            raise FileNotFoundError(
                                f"SOURCE {self.source}: {self.packets} packets came, no frame decoded "
                                f"({_said(err, self.timeout)}). A stream joined mid-way decodes from its "
                                "next keyframe: check the encoder's keyframe interval (GOP).") from None
                        raise FileNotFoundError(source_error(self.source, err, self.timeout)) from None
                    self.ended = f"the stream was lost ({_said(err, self.timeout)})"
                if self.stopping or self.reconnects >= self.reconnect:
                    break
                self.reconnects += 1
                gap = True
                time.sleep(self.reconnect_delay)
        except BaseException as err:  # handed to the consumer, who raises it
            self._hand_over(err)
            return
        self._hand_over(None)

    def _hand_over(self, item: BaseException | None) -> None:
        """The last item: waits for room while someone still reads, not after a stop."""
        while True:
            try:
                self._queue.put(item, timeout=0.1)
                if self._arrived is not None:
                    self._arrived.set()
                return
            except queue.Full:
                if self.stopping:
                    return


def _said(err: BaseException, timeout: float) -> str:
    """FFmpeg's words for an error, without the errno number and the file name."""
    if isinstance(err, av.ExitError):  # PyAV's timeout interrupted FFmpeg
        return f"no data for {timeout:g} s"
    return getattr(err, "strerror", None) or str(err)
