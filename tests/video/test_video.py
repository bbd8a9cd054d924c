"""dlkdd.video, the one home of video files in and out: the writers on real files and streams, and the
folder lister `fit`, `predict` and `watch` share."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from dlkdd.video import VIDEO_SUFFIXES, VideoWriter, list_videos, write_video


def decode(path) -> np.ndarray:
    with av.open(path if isinstance(path, io.BytesIO) else str(path)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


def test_write_video_round_trip(tmp_path: Path) -> None:
    x = np.arange(40)[None, None, :, None]
    wave = 128 + 100 * np.sin(2 * np.pi * (x - 2 * np.arange(5)[:, None, None, None]) / 40)
    frames = np.broadcast_to(wave, (5, 24, 40, 3)).astype(np.uint8)
    write_video(tmp_path / "wave.mp4", frames, fps=10)
    decoded = decode(tmp_path / "wave.mp4")
    assert decoded.shape == frames.shape
    assert np.abs(decoded.astype(np.int16) - frames).mean() < 3
    with pytest.raises(ValueError):
        write_video(tmp_path / "bad.mp4", frames.astype(np.float32), fps=10)


def test_the_default_encoding_is_reproducible(tmp_path: Path) -> None:
    """Generated datasets are the same bytes for a seed: the writer's defaults give the same file twice."""
    frames = np.random.default_rng(0).integers(0, 255, (6, 48, 64, 3), dtype=np.uint8)
    write_video(tmp_path / "a.mp4", frames, fps=15)
    write_video(tmp_path / "b.mp4", frames, fps=15)
    assert (tmp_path / "a.mp4").read_bytes() == (tmp_path / "b.mp4").read_bytes()


def test_a_stream_into_a_buffer_keeps_the_given_times() -> None:
    """Frame by frame into a file object (as a camera sends MPEG-TS), at the caller's pts and time base."""
    buffer, tick = io.BytesIO(), Fraction(1, 90000)
    with VideoWriter(buffer, 32, 24, 15, container_format="mpegts", time_base=tick, threads=None,
                     options={"preset": "ultrafast"}) as writer:
        for k in range(8):
            writer.write(np.full((24, 32, 3), 30 * k, np.uint8), pts=90000 + 6000 * k)  # 15 fps, from 1 s
    assert writer.frames == 8
    buffer.seek(0)
    with av.open(buffer) as container:
        times = [frame.time for frame in container.decode(video=0)]
    assert np.allclose(np.array(times) - times[0], np.arange(8) / 15)
    buffer.seek(0)
    assert np.abs(decode(buffer).mean(axis=(1, 2, 3)) - 30 * np.arange(8)).max() < 3


def test_the_lister_takes_every_video_suffix_in_any_case_and_nothing_else(tmp_path: Path) -> None:
    for k, suffix in enumerate(sorted(VIDEO_SUFFIXES)):
        (tmp_path / f"cam{k % 3}").mkdir(exist_ok=True)
        (tmp_path / f"cam{k % 3}" / f"v{k}{suffix.upper() if k % 2 else suffix}").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not a video")
    (tmp_path / "v.mp4.json").write_text("{}")
    (tmp_path / "folder.mp4").mkdir()
    found = list_videos(tmp_path)
    assert len(found) == len(VIDEO_SUFFIXES) and found == sorted(found)
    assert {p.suffix.lower() for p in found} == VIDEO_SUFFIXES
