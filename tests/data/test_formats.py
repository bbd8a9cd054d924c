"""Every container and raw stream that cameras, NVRs and DVRs export is a video to the sources, and decodes;
a folder of MPEG-TS recordings trains and predicts."""

from __future__ import annotations

import csv
from pathlib import Path

import av
import numpy as np
import pytest

from dlkdd.cli import main
from dlkdd.data.decode import decode_clip, probe
from dlkdd.data.sources import make_source
from dlkdd.video import VIDEO_SUFFIXES
from tests.conftest import CONFIGS

# suffix -> (PyAV muxer, encoder, container options): one of each suffix PyAV can write. Not written:
# .dav (Dahua's DHAV has a demuxer only) and .ogv (no Theora encoder in PyAV's wheels).
WRITABLE = {
    ".mp4": ("mp4", "libx264", {}), ".m4v": ("mp4", "libx264", {}), ".mov": ("mov", "libx264", {}),
    ".3gp": ("3gp", "h263", {}), ".3g2": ("3g2", "h263", {}), ".f4v": ("f4v", "libx264", {}),
    ".mkv": ("matroska", "libx264", {}), ".webm": ("webm", "libvpx", {}),
    ".avi": ("avi", "mpeg4", {}), ".flv": ("flv", "flv", {}), ".asf": ("asf", "wmv2", {}),
    ".wmv": ("asf", "wmv2", {}),
    ".ts": ("mpegts", "libx264", {}), ".m2t": ("mpegts", "mpeg2video", {}),
    # Blu-ray/AVCHD transport streams: 192-byte packets with a timestamp prefix.
    ".m2ts": ("mpegts", "libx264", {"mpegts_m2ts_mode": "1"}),
    ".mts": ("mpegts", "libx264", {"mpegts_m2ts_mode": "1"}),
    ".mpg": ("mpeg", "mpeg1video", {}), ".mpeg": ("mpeg", "mpeg2video", {}),
    ".vob": ("vob", "mpeg2video", {}),
    ".mxf": ("mxf", "mpeg2video", {}),
    ".h264": ("h264", "libx264", {}), ".264": ("h264", "libx264", {}),
    ".h265": ("hevc", "libx265", {}), ".265": ("hevc", "libx265", {}), ".hevc": ("hevc", "libx265", {}),
    ".mjpeg": ("mjpeg", "mjpeg", {}), ".mjpg": ("mjpeg", "mjpeg", {}),
}
NOT_WRITABLE = {".dav", ".ogv"}
FRAMES = 20


def write_counting_video(path: Path, muxer: str, codec: str, options: dict[str, str]) -> None:
    """FRAMES frames, frame k a flat gray of level 12 k, so a decoded frame tells its index."""
    with av.open(str(path), "w", format=muxer, options=options) as container:
        stream = container.add_stream(codec, rate=25)
        stream.width, stream.height = (176, 144) if codec == "h263" else (64, 48)  # H.263's fixed sizes
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        if codec == "libx265":
            stream.options = {"x265-params": "log-level=error"}
        for k in range(FRAMES):
            image = np.full((stream.height, stream.width, 3), 12 * k, np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format=stream.pix_fmt)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def test_the_suffix_list_is_the_one_tested_and_documented():
    assert set(WRITABLE) | NOT_WRITABLE == VIDEO_SUFFIXES
    guide = (CONFIGS.parent / "docs" / "guides" / "datasets.md").read_text()  # the video formats table
    assert all(f"`{suffix}`" in guide for suffix in VIDEO_SUFFIXES)


def test_each_format_is_found_and_decodes_the_right_frames(tmp_path):
    for suffix, (muxer, codec, options) in WRITABLE.items():
        name = f"clip{suffix.replace('.', '_')}{suffix.upper()}"  # upper-case suffixes count too
        write_counting_video(tmp_path / name, muxer, codec, options)
    (tmp_path / "notes.txt").write_text("not a video")

    found = [item.path for item in make_source("videos", tmp_path, 1).items("test")]

    assert sorted(p.suffix.lower() for p in found) == sorted(WRITABLE)  # upper-case suffixes too
    for path in found:
        assert probe(path, decode_first_frame=True).num_frames == FRAMES, path
        levels = decode_clip(path, [1, 6, 10], (24, 32))[:, 12, 16].mean(axis=-1)
        assert np.abs(levels - [12, 72, 120]).max() < 6, (path, levels)  # neighbours differ by 12


@pytest.mark.slow
def test_a_folder_of_ts_recordings_trains_and_predicts(tiny_root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "nvr_export"
    sources = sorted(tiny_root.rglob("*.mp4"))
    for k, name in enumerate(["enter", "leave"]):
        (root / name).mkdir(parents=True)
        for j in range(3):  # remuxed, not re-encoded: the same H.264 stream in MPEG-TS
            _remux(sources[3 * k + j], root / name / f"cam{j}.ts")
    args = ["--config", str(CONFIGS / "synthetic/teacher.yaml"), "--data", str(CONFIGS / "folder/data.yaml"),
            f"--data.root={root}", "--data.holdout_fraction=0.34", "--data.num_workers=0",
            "--data.clip_len=4", "--data.frame_size=[32, 43]", "--data.crop_size=28", "--data.batch_size=2",
            "--data.num_clips=1", "--data.num_crops=1", "--model.init_args.backbone=tiny3d",
            "--model.init_args.pretrained=null",
            "--trainer.accelerator=cpu", "--trainer.precision=32", "--trainer.logger=false",
            "--trainer.enable_progress_bar=false"]

    fitted = main(["fit", *args, "--trainer.max_epochs=1"])
    assert fitted.datamodule.class_names == ["enter", "leave"] and not fitted.datamodule.failed_videos
    ckpt = fitted.trainer.checkpoint_callback.best_model_path
    main(["predict", *args, "--data.dataset=videos", f"--data.root={root}", "--ckpt_path", ckpt,
          "--output", str(tmp_path / "p.csv")])
    rows = list(csv.DictReader((tmp_path / "p.csv").open()))
    assert sorted(Path(r["path"]).name for r in rows) == sorted(f"cam{j}.ts" for j in range(3) for _ in "ab")
    assert all(not r.get("error") for r in rows)


def _remux(source: Path, target: Path) -> None:
    with av.open(str(source)) as reader, av.open(str(target), "w", format="mpegts") as writer:
        stream = writer.add_stream_from_template(reader.streams.video[0])
        for packet in reader.demux(reader.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                writer.mux(packet)
