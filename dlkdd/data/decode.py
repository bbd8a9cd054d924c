"""PyAV decoding of just the frames a clip needs, resized in swscale, as uint8 (T,H,W,3)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from dlkdd.video import Resize, frame_rate


class VideoDecodeError(RuntimeError):
    """A video that cannot give the requested frames; the message names the file."""


@dataclass(frozen=True)
class VideoInfo:
    num_frames: int
    fps: float
    width: int
    height: int


def _open_stream(container: av.container.InputContainer, path: Path) -> av.video.stream.VideoStream:
    if not container.streams.video:
        raise VideoDecodeError(f"{path}: no video stream")
    stream = container.streams.video[0]
    # One decoder thread per DataLoader worker: workers already use every core, and frame threading
    # plus an early break out of the decode loop can hang inside workers.
    stream.codec_context.thread_count = 1
    return stream


def probe(path: str | Path, decode_first_frame: bool = False) -> VideoInfo:
    """Frame count, fps and size from the container header (no decoding when the header knows).

    `decode_first_frame` also decodes one frame, so a file whose header is fine but whose frames are
    not (wrong codec data, cut before the first frame) is found up front rather than in an epoch.
    """
    path = Path(path)
    try:
        with av.open(str(path)) as container:
            stream = _open_stream(container, path)
            fps = frame_rate(stream)
            num_frames = stream.frames
            if num_frames <= 0 and stream.duration is not None and stream.time_base is not None:
                num_frames = round(stream.duration * stream.time_base * fps)
            if decode_first_frame and next(iter(container.decode(stream)), None) is None:
                raise VideoDecodeError(f"{path}: no frame could be decoded")
            if num_frames <= 0:  # no usable header: count packets once
                num_frames = _count_packets(path)
            return VideoInfo(num_frames, float(fps), stream.codec_context.width, stream.codec_context.height)
    except av.FFmpegError as err:
        raise VideoDecodeError(f"{path}: cannot read video ({err})") from err


def _count_packets(path: Path) -> int:
    # A fresh demuxer rather than a seek back to 0: raw elementary streams (.h264, .hevc) cannot seek.
    with av.open(str(path)) as container:
        return sum(1 for packet in container.demux(container.streams.video[0]) if packet.size)


def decode_clip(
    path: str | Path, indices: Sequence[int], frame_size: Sequence[int], time_limit: float | None = None
) -> np.ndarray:
    """Decode the frames at `indices` (repeats allowed) as uint8 (len(indices), H, W, 3).

    Seeks to the keyframe before the first index and decodes forward only to the last one. Frames
    are scaled in swscale so their aspect is kept and they cover `frame_size` (H, W), then centre
    cropped to it, so every clip in a batch has one shape whatever its source resolution. Gray and
    other pixel formats come out as RGB; rotation metadata (phone video) is applied, so frames are
    upright. Frame k is the frame shown at k / average fps: in variable-frame-rate video a missing
    index repeats the frame before it.

    `time_limit` (seconds) bounds the decode loop: a file still decoding then raises VideoDecodeError.
    It is checked between frames, so a single FFmpeg call that blocks (a stalled network mount) is
    not interrupted.
    """
    path = Path(path)
    out_h, out_w = frame_size
    wanted = set(indices)
    first = min(wanted)
    deadline = time.monotonic() + time_limit if time_limit else None
    try:
        frames, first_seen = _decode(path, wanted, out_h, out_w, deadline, time_limit, seek=True)
        if first > 0 and (first_seen is None or first_seen > first):
            # The demuxer's seek overshot (MPEG-TS and PS seek by byte position): decode from the start.
            frames, _ = _decode(path, wanted, out_h, out_w, deadline, time_limit, seek=False)
    except av.FFmpegError as err:
        raise VideoDecodeError(f"{path}: decoding failed ({err})") from err
    if not frames:
        raise VideoDecodeError(f"{path}: no frame decoded for indices {first}..{max(wanted)}")
    return np.stack([frames[i] if i in frames else _nearest_before(frames, i) for i in indices])


def _decode(path: Path, wanted: set[int], out_h: int, out_w: int, deadline: float | None,
            time_limit: float | None, seek: bool) -> tuple[dict[int, np.ndarray], int | None]:
    """The wanted frames decoded (seeking first when `seek`), and the index of the first frame decoded."""
    first, last = min(wanted), max(wanted)
    frames: dict[int, np.ndarray] = {}
    first_seen = None
    with av.open(str(path)) as container:
        stream = _open_stream(container, path)
        fps, time_base = frame_rate(stream), stream.time_base
        # Raw elementary streams (.h264, .hevc from DVR exports) carry no timestamps: no seeking,
        # frame k is the k-th frame decoded from the start.
        timed = stream.start_time is not None
        start = stream.start_time or 0
        if seek and first > 0 and timed:
            container.seek(start + int(first / fps / time_base), stream=stream, backward=True)
        resize = None
        for decoded, frame in enumerate(container.decode(stream)):
            if deadline is not None and time.monotonic() > deadline:
                raise VideoDecodeError(f"{path}: decoding took longer than {time_limit} s; skipped")
            if frame.pts is None and timed:
                continue
            index = decoded if frame.pts is None else round((frame.pts - start) * time_base * fps)
            first_seen = index if first_seen is None else first_seen
            if index in wanted:
                resize = resize or Resize(frame, out_h, out_w)
                frames[index] = resize(frame)
            if index >= last:
                break
    return frames, first_seen


def _nearest_before(frames: dict[int, np.ndarray], index: int) -> np.ndarray:
    """A header that overstates the frame count leaves the tail missing: repeat the last frame seen."""
    earlier = [i for i in frames if i <= index]
    return frames[max(earlier)] if earlier else frames[min(frames)]
