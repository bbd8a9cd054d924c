"""PyAV clip decoding: the frames a clip needs, exactly, from real mp4 files."""

from __future__ import annotations

import av
import numpy as np
import pytest

from dlkdd.data.decode import VideoDecodeError, decode_clip, probe
from dlkdd.data.sampling import random_clip, uniform_clips
from dlkdd.video import Resize, write_video


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
    write_video(tmp_path / "v.mp4", frames, fps=15)
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


def _textured_video(path, codec, pix_fmt, rotation=0, frames=12, size=(48, 64)):
    """Noise over a gradient (so any scaling difference shows), a keyframe every 4 frames."""
    rng = np.random.default_rng(1)
    ramp = np.linspace(0, 200, size[1], dtype=np.float32)[None, :, None]
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=10, options={"g": "4"})
        stream.width, stream.height, stream.pix_fmt = size[1], size[0], pix_fmt
        if rotation:
            stream.set_display_rotation(rotation)
        for _ in range(frames):
            image = (ramp + rng.integers(0, 55, (*size, 3))).astype(np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))
    return path


@pytest.mark.parametrize("name, codec, pix_fmt, rotation", [
    ("h264.mp4", "libx264", "yuv420p", 0),
    ("h264_422.mp4", "libx264", "yuv422p", 0),
    ("h264_444_rotated.mp4", "libx264", "yuv444p", 90),
    ("mpeg4.avi", "mpeg4", "yuv420p", 0),  # ARID's codec and container
    ("gray.mkv", "ffv1", "gray", 0),
])
@pytest.mark.parametrize("frame_size", [(36, 50), (70, 90)])
def test_reused_converter_gives_the_bytes_of_a_fresh_one_per_frame(tmp_path, name, codec, pix_fmt, rotation,
                                                                   frame_size):
    """decode_clip's one swscale context per decode gives, byte for byte, what PyAV's per-frame
    frame.to_ndarray(format=, width=, height=) (a new context each call) gives, cropped the same way."""
    path = _textured_video(tmp_path / name, codec, pix_fmt, rotation)
    with av.open(str(path)) as container:
        decoded = list(container.decode(video=0))
        assert decoded[0].format.name == pix_fmt and round(decoded[0].rotation or 0) == rotation
        resize = Resize(decoded[0], *frame_size)
        width, height = resize.stored_size
        expected = np.stack([
            np.rot90(frame.to_ndarray(format="rgb24", width=width, height=height), resize.turns)[
                resize.top : resize.top + frame_size[0], resize.left : resize.left + frame_size[1]]
            for frame in decoded])
    assert expected.shape == (12, *frame_size, 3)
    np.testing.assert_array_equal(decode_clip(path, range(12), frame_size), expected)
    np.testing.assert_array_equal(decode_clip(path, [9, 5, 11, 9], frame_size), expected[[9, 5, 11, 9]])
