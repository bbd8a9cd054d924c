"""PyAV clip decoding: the frames a clip needs, exactly, from real mp4 files."""

from __future__ import annotations

import av
import numpy as np
import pytest

from dlkdd.data.decode import VideoDecodeError, decode_clip, probe
from dlkdd.data.sampling import random_clip, uniform_clips
from dlkdd.data.synthetic import write_mp4


@pytest.fixture
def counting_video(tmp_path):
    """A 40-frame mp4 whose frame k has brightness 5*k, with a keyframe every 8 frames (so seeks matter)."""
    frames = np.stack([np.full((48, 64, 3), 5 * k, np.uint8) for k in range(40)])
    path = tmp_path / "count.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10, options={"g": "8", "crf": "0"})
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv444p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))
    return path, frames


def test_probe_reads_header(counting_video):
    path, frames = counting_video
    info = probe(path)
    assert (info.num_frames, info.width, info.height) == (40, 64, 48)
    assert info.fps == pytest.approx(10)


@pytest.mark.parametrize("indices", [[0, 2, 4], [17, 19, 21, 23], [33, 36, 39], [30, 30, 5]])
def test_decode_returns_exactly_the_requested_frames(counting_video, indices):
    path, frames = counting_video
    clip = decode_clip(path, indices, (48, 64))
    assert clip.shape == (len(indices), 48, 64, 3) and clip.dtype == np.uint8
    brightness = clip.reshape(len(indices), -1).mean(axis=1)
    np.testing.assert_allclose(brightness, [5 * i for i in indices], atol=2)


def test_decode_resizes_keeping_aspect(counting_video):
    path, _ = counting_video
    assert decode_clip(path, [3], (24, 24)).shape == (1, 24, 24, 3)  # 48x64 -> 24x32 -> centre 24x24
    assert decode_clip(path, [3], (30, 60)).shape == (1, 30, 60, 3)


def test_decode_error_names_the_file(tmp_path):
    bad = tmp_path / "not_a_video.mp4"
    bad.write_bytes(b"this is text, not video")
    with pytest.raises(VideoDecodeError, match="not_a_video.mp4"):
        probe(bad)
    with pytest.raises(VideoDecodeError, match="not_a_video.mp4"):
        decode_clip(bad, [0], (32, 32))


def test_write_and_decode_synthetic_roundtrip(tmp_path):
    frames = np.random.default_rng(0).integers(0, 40, (6, 32, 48, 3), dtype=np.uint8)
    write_mp4(tmp_path / "v.mp4", frames, fps=15)
    assert probe(tmp_path / "v.mp4").num_frames == 6
    assert decode_clip(tmp_path / "v.mp4", range(6), (32, 48)).shape == (6, 32, 48, 3)


def test_clip_sampling():
    assert uniform_clips(32, 8, 2, 1) == [[8, 10, 12, 14, 16, 18, 20, 22]]
    starts = [c[0] for c in uniform_clips(32, 8, 2, 3)]
    assert starts == [0, 8, 17] and uniform_clips(32, 8, 2, 3)[-1][-1] == 31
    assert uniform_clips(5, 4, 2, 1) == [[0, 2, 4, 1]]  # shorter than the span: loops
    for _ in range(20):
        clip = random_clip(20, 4, 3)
        assert clip[0] <= 10 and np.all(np.diff(clip) == 3)
