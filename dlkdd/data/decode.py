"""PyAV decoding of just the frames a clip needs, resized in swscale, as uint8 (T,H,W,3)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


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


def _frame_rate(stream: av.video.stream.VideoStream) -> Fraction:
    rate = stream.average_rate or stream.base_rate or stream.guessed_rate
    return Fraction(rate) if rate else Fraction(25)


def probe(path: str | Path) -> VideoInfo:
    """Frame count, fps and size from the container header (no decoding when the header knows)."""
    path = Path(path)
    try:
        with av.open(str(path)) as container:
            stream = _open_stream(container, path)
            fps = _frame_rate(stream)
            num_frames = stream.frames
            if num_frames <= 0 and stream.duration is not None and stream.time_base is not None:
                num_frames = round(stream.duration * stream.time_base * fps)
            if num_frames <= 0:  # no usable header: count packets once
                num_frames = sum(1 for packet in container.demux(stream) if packet.size)
            return VideoInfo(num_frames, float(fps), stream.codec_context.width, stream.codec_context.height)
    except av.FFmpegError as err:
        raise VideoDecodeError(f"{path}: cannot open video ({err})") from err


def _cover_size(width: int, height: int, out_h: int, out_w: int) -> tuple[int, int]:
    """Smallest size with the source's aspect that covers (out_h, out_w), so a centre crop fills it."""
    scale = max(out_h / height, out_w / width)
    return max(out_w, round(width * scale)), max(out_h, round(height * scale))


def decode_clip(path: str | Path, indices: Sequence[int], frame_size: Sequence[int]) -> np.ndarray:
    """Decode the frames at `indices` (repeats allowed) as uint8 (len(indices), H, W, 3).

    Seeks to the keyframe before the first index and decodes forward only to the last one. Frames
    are scaled in swscale so their aspect is kept and they cover `frame_size` (H, W), then centre
    cropped to it, so every clip in a batch has one shape whatever its source resolution.
    """
    path = Path(path)
    out_h, out_w = frame_size
    wanted = set(indices)
    first, last = min(wanted), max(wanted)
    frames: dict[int, np.ndarray] = {}
    try:
        with av.open(str(path)) as container:
            stream = _open_stream(container, path)
            fps, time_base = _frame_rate(stream), stream.time_base
            start = stream.start_time or 0
            if first > 0:
                container.seek(start + int(first / fps / time_base), stream=stream, backward=True)
            scaled_w, scaled_h = _cover_size(
                stream.codec_context.width, stream.codec_context.height, out_h, out_w
            )
            top, left = (scaled_h - out_h) // 2, (scaled_w - out_w) // 2
            for frame in container.decode(stream):
                if frame.pts is None:
                    continue
                index = round((frame.pts - start) * time_base * fps)
                if index in wanted:
                    rgb = frame.to_ndarray(format="rgb24", width=scaled_w, height=scaled_h)
                    frames[index] = rgb[top : top + out_h, left : left + out_w]
                if index >= last:
                    break
    except av.FFmpegError as err:
        raise VideoDecodeError(f"{path}: decoding failed ({err})") from err
    if not frames:
        raise VideoDecodeError(f"{path}: no frame decoded for indices {first}..{last}")
    return np.stack([frames[i] if i in frames else _nearest_before(frames, i) for i in indices])


def _nearest_before(frames: dict[int, np.ndarray], index: int) -> np.ndarray:
    """A header that overstates the frame count leaves the tail missing: repeat the last frame seen."""
    earlier = [i for i in frames if i <= index]
    return frames[max(earlier)] if earlier else frames[min(frames)]
