"""Video files in and out, in one place, with PyAV (no torch: a process that only writes video stays light).

- Which files are videos: `VIDEO_SUFFIXES` and `list_videos`, how `fit`, `predict` and `watch` read a
  folder, so they all see the same files.
- Reading: `frame_rate` (a stream's nominal fps) and `Resize` (a stored frame to upright RGB at the
  model's frame size), shared by the clip decoder and `watch`.
- Writing: `VideoWriter` (frame by frame: long recordings, the annotated video, streams into a pipe or
  a buffer) and `write_video` (a whole uint8 array: the generated datasets, `preview`, W&B clips). Their
  defaults are the generated data's encoding, `REPRODUCIBLE_H264`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np
from av.video.reformatter import VideoReformatter

# What a file must end with (any case) to be a video in a folder (dataset folder, videos, watch FOLDER): the
# containers and raw streams that cameras, phones, NVRs and DVRs export and FFmpeg (PyAV) decodes.
# docs/guides/datasets.md lists them; tests/data/test_formats.py writes each PyAV can write, then decodes it.
VIDEO_SUFFIXES = frozenset({
    ".mp4", ".m4v", ".mov", ".3gp", ".3g2", ".f4v",  # ISO/QuickTime: phones, IP cameras, NVR exports
    ".mkv", ".webm",  # Matroska
    ".avi", ".flv", ".asf", ".wmv",  # older DVRs and Windows exports
    ".ts", ".m2ts", ".mts", ".m2t",  # MPEG transport streams: NVR/DVR and camcorder (AVCHD) recordings
    ".mpg", ".mpeg", ".vob", ".mxf",  # MPEG program streams, DVD, broadcast
    ".h264", ".264", ".h265", ".265", ".hevc",  # raw H.264/H.265 streams (Hikvision, Uniview exports)
    ".mjpeg", ".mjpg",  # raw motion JPEG (cheap USB and IP cameras)
    ".dav",  # Dahua DVR/NVR recordings (FFmpeg's dhav demuxer)
    ".ogv",
})

# The generated data's H.264 (and preview's and W&B's): veryfast keeps encoding cheap. For a reproducible
# bitstream: one thread (VideoWriter's default), and no macroblock-tree rate control, whose output varied
# between processes on small frames (seen at 64x48).
REPRODUCIBLE_H264 = {"crf": "20", "preset": "veryfast", "x264-params": "mbtree=0"}


def list_videos(folder: Path) -> list[Path]:
    """The videos (`VIDEO_SUFFIXES`, any case) in `folder` and below it, by path."""
    return sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())


def frame_rate(stream: av.video.stream.VideoStream) -> Fraction:
    """Nominal frames per second (the average over a VFR file); 25 when the stream does not say."""
    rate = stream.average_rate or stream.base_rate or stream.guessed_rate
    return Fraction(rate) if rate else Fraction(25)


def _cover_size(width: int, height: int, out_h: int, out_w: int) -> tuple[int, int]:
    """Smallest size with the source's aspect that covers (out_h, out_w), so a centre crop fills it."""
    scale = max(out_h / height, out_w / width)
    return max(out_w, round(width * scale)), max(out_h, round(height * scale))


class Resize:
    """Stored frame -> upright RGB covering (out_h, out_w), centre cropped: swscale scales the stored
    frame, numpy turns it by the display rotation (multiples of 90 degrees). Built from the stream's
    first frame; every later frame of the stream must have the same stored size.

    One swscale context for every frame it resizes: a frame's own to_ndarray(width=, height=) builds
    a new one per call (~1 ms at ARID's size; reusing one costs ~0.04 ms) for the same bytes."""

    def __init__(self, frame: av.VideoFrame, out_h: int, out_w: int) -> None:
        self.turns = round((frame.rotation or 0) / 90) % 4  # counter-clockwise quarter turns
        upright_w, upright_h = (frame.height, frame.width) if self.turns % 2 else (frame.width, frame.height)
        scaled_w, scaled_h = _cover_size(upright_w, upright_h, out_h, out_w)
        self.stored_size = (scaled_h, scaled_w) if self.turns % 2 else (scaled_w, scaled_h)
        self.top, self.left = (scaled_h - out_h) // 2, (scaled_w - out_w) // 2
        self.out_h, self.out_w = out_h, out_w
        self.reformatter = VideoReformatter()

    def __call__(self, frame: av.VideoFrame) -> np.ndarray:
        width, height = self.stored_size
        scaled = self.reformatter.reformat(frame, width=width, height=height, format="rgb24")
        rgb = np.rot90(scaled.to_ndarray(), self.turns)
        return rgb[self.top : self.top + self.out_h, self.left : self.left + self.out_w]


class VideoWriter:
    """Frames in, one encoded video out: a file (`target` a path) or a stream into a file object (a pipe,
    a BytesIO; name its `container_format`, e.g. "mpegts"). Frame k's time is k / fps unless `write` gets
    its `pts` in `time_base` (default 1 / fps; given, it is also the stream's). `options` are the
    encoder's (FFmpeg's names, as strings), `threads` its thread count (None: FFmpeg's choice), `metadata`
    the container's tags. Use it as a context manager, or call `close()`: it flushes the frames the
    encoder still holds (x264 keeps some for lookahead), then writes the container's index."""

    def __init__(self, target: str | os.PathLike[str] | BinaryIO, width: int, height: int,
                 fps: int | Fraction, *, codec: str = "libx264", container_format: str | None = None,
                 pix_fmt: str = "yuv420p", options: Mapping[str, str] | None = REPRODUCIBLE_H264,
                 threads: int | None = 1, bit_rate: int | None = None, time_base: Fraction | None = None,
                 metadata: Mapping[str, str] | None = None) -> None:
        path = isinstance(target, (str, os.PathLike))
        self.container = av.open(str(target) if path else target, mode="w", format=container_format)
        for key, value in (metadata or {}).items():
            self.container.metadata[key] = value
        self.stream = self.container.add_stream(codec, rate=fps)
        self.stream.width, self.stream.height, self.stream.pix_fmt = width, height, pix_fmt
        if time_base is not None:
            self.stream.time_base = time_base
        if bit_rate is not None:
            self.stream.bit_rate = bit_rate
        if options:
            self.stream.options = dict(options)
        if threads is not None:
            self.stream.codec_context.thread_count = threads
        self.time_base = time_base if time_base is not None else 1 / Fraction(fps)
        self.frames = 0  # written so far

    def write(self, image: np.ndarray | av.VideoFrame, pts: int | None = None) -> None:
        """One frame: uint8 RGB (H, W, 3) or a decoded frame; at `pts` (default: the count so far)."""
        frame = image if isinstance(image, av.VideoFrame) else av.VideoFrame.from_ndarray(image, "rgb24")
        frame.pts, frame.time_base = self.frames if pts is None else pts, self.time_base
        self.container.mux(self.stream.encode(frame))
        self.frames += 1

    def close(self) -> None:
        self.container.mux(self.stream.encode(None))
        self.container.close()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:  # what was muxed stays readable; the encoder's last frames are lost with the error
            self.container.close()


def write_video(target: str | os.PathLike[str] | BinaryIO, frames_uint8: np.ndarray, fps: int | Fraction,
                **settings) -> None:
    """Encode uint8 (T, H, W, 3) RGB frames; by default as the generated data is (H.264 yuv420p mp4,
    `REPRODUCIBLE_H264`), which decodes to exactly T frames. `settings`: `VideoWriter`'s."""
    frames = np.ascontiguousarray(frames_uint8)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected uint8 frames of shape (T, H, W, 3), got {frames.dtype} {frames.shape}")
    _, height, width, _ = frames.shape
    with VideoWriter(target, width, height, fps, **settings) as writer:
        for rgb in frames:
            writer.write(rgb)
