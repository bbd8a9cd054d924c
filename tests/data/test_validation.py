"""Bad input never costs a run: every kind of broken or odd video, written here as a real file, is either
handled (looped, made 3-channel, rotated upright) or skipped and named once, and too many broken files
stop the run with a clear error before the first step."""

from __future__ import annotations

import csv
import shutil
import warnings
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from dlkdd.cli import main
from dlkdd.data import DarkVideoDataModule
from dlkdd.data.broken import BrokenDatasetError, BrokenVideoLog
from dlkdd.data.dataset import VideoClipDataset, collate_clips
from dlkdd.data.decode import VideoDecodeError, decode_clip, probe
from dlkdd.data.manifest import Manifest
from dlkdd.data.sources import VideoItem
from dlkdd.data.validation import check_split
from tests.conftest import CONFIGS


def write_video(path: Path, frames: np.ndarray, codec: str = "libx264", pix_fmt: str = "yuv420p",
                fps: int = 10, rotation: int = 0, pts: list[int] | None = None) -> Path:
    """Encode RGB (T,H,W,3) or gray (T,H,W) uint8 frames; `pts` in milliseconds for variable frame rate."""
    gray = frames.ndim == 3
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], pix_fmt
        time_base = Fraction(1, 1000) if pts else Fraction(1, fps)
        stream.codec_context.time_base = time_base
        if rotation:
            stream.set_display_rotation(rotation)
        for k, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="gray" if gray else "rgb24")
            frame.pts, frame.time_base = (pts[k] if pts else k), time_base
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def counting_frames(num: int, height: int = 48, width: int = 64) -> np.ndarray:
    """Frame k has brightness 10*k, so a decoded frame tells which frame it is."""
    return np.stack([np.full((height, width, 3), 10 * k, np.uint8) for k in range(num)])


def zero_frame_data(good: Path, out: Path, from_packet: int) -> Path:
    """A copy of `good` whose container is intact but whose coded frames from `from_packet` on are
    zeros: the header reads fine, the decoder rejects the data."""
    data = bytearray(good.read_bytes())
    with av.open(str(good)) as container:
        positions = [p.pos for p in container.demux(container.streams.video[0]) if p.size]
    end = data.index(b"moov") - 4  # write_video's files keep the index after the frame data
    data[positions[from_packet] : end] = bytes(end - positions[from_packet])
    out.write_bytes(bytes(data))
    return out


def write_bad_videos(folder: Path, good: Path) -> dict[str, Path]:
    """Every kind of unusable input, as files in `folder`; `good` is a real mp4 to cut and copy."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {"zero_bytes": folder / "zero_bytes.mp4", "truncated": folder / "truncated.mp4",
             "text": folder / "text.mp4"}
    files["zero_bytes"].write_bytes(b"")
    data = good.read_bytes()
    files["truncated"].write_bytes(data[: len(data) // 2])
    files["text"].write_text("these are notes from the night shift, not a video\n" * 20)
    files["one_frame"] = write_video(folder / "one_frame.mp4", counting_frames(1))
    files["undecodable"] = zero_frame_data(good, folder / "undecodable.mp4", from_packet=0)
    return files


def write_odd_videos(folder: Path) -> dict[str, Path]:
    """Videos that are odd but usable: they must decode to normal clips."""
    folder.mkdir(parents=True, exist_ok=True)
    gray = np.stack([np.full((48, 64), 20 * k, np.uint8) for k in range(8)])
    return {
        "short": write_video(folder / "short.mp4", counting_frames(3)),
        "gray": write_video(folder / "gray.mp4", gray, codec="png", pix_fmt="gray"),
        "odd_size": write_video(folder / "odd_size.mp4", counting_frames(8, 33, 47), pix_fmt="yuv444p"),
        "vfr": write_video(folder / "vfr.mp4", counting_frames(12),
                           pts=[0, 40, 200, 240, 280, 500, 540, 580, 800, 840, 880, 1100]),
        "rotated": write_video(folder / "rotated.mp4", counting_frames(8), rotation=90),
    }


@pytest.fixture
def good_mp4(tmp_path) -> Path:
    return write_video(tmp_path / "good.mp4", counting_frames(20))


@pytest.mark.parametrize("kind", ["zero_bytes", "truncated", "text", "one_frame", "undecodable"])
def test_broken_files_are_found_up_front_and_named(tmp_path, good_mp4, kind):
    bad = write_bad_videos(tmp_path / "bad", good_mp4)[kind]
    items = [VideoItem(good_mp4, 0), VideoItem(bad, 1)]
    checked = check_split("train", items, tmp_path, Manifest(tmp_path / "manifest.json"), workers=2)
    assert [i.path for i in checked.items] == [good_mp4] and checked.num_frames == [20]
    assert list(checked.broken) == [str(bad)] and checked.total == 2


def test_file_without_video_stream_is_an_error_naming_it(tmp_path):
    path = tmp_path / "audio_only.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 8000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    with pytest.raises(VideoDecodeError, match="audio_only.mp4: no video stream"):
        probe(path)


def test_odd_videos_decode_to_normal_clips(tmp_path):
    odd = write_odd_videos(tmp_path)
    for name, path in odd.items():
        clip = decode_clip(path, [0, 1, 2, 0, 1, 2], (24, 32))
        assert clip.shape == (6, 24, 32, 3) and clip.dtype == np.uint8, name
    gray = decode_clip(odd["gray"], [3], (48, 64))[0].astype(int)
    assert np.abs(gray - 60).max() <= 2  # one gray level copied into R, G and B
    vfr = decode_clip(odd["vfr"], range(probe(odd["vfr"]).num_frames), (16, 16))
    assert np.all(np.diff(vfr.reshape(len(vfr), -1).mean(axis=1)) >= -1)  # time never runs backwards


def test_rotation_metadata_gives_upright_frames(tmp_path):
    image = np.zeros((48, 64, 3), np.uint8)
    image[:8, :8] = 255  # a bright top-left corner
    path = write_video(tmp_path / "rotated.mp4", np.stack([image] * 4), pix_fmt="yuv444p", rotation=90)
    frame = decode_clip(path, [1], (64, 48))[0]  # upright: 48 wide, 64 high
    expected = np.rot90(image)  # 90 degrees counter-clockwise: the corner goes to the bottom left
    assert frame.shape == expected.shape
    assert frame[-8:, :8].mean() > 200 and frame[:8, :8].mean() < 50


def test_short_video_loops_to_fill_the_clip(tmp_path):
    short = write_odd_videos(tmp_path)["short"]
    dataset = VideoClipDataset([VideoItem(short, 0)], clip_len=8, frame_stride=2, frame_size=(24, 32),
                               num_clips=1, num_frames=[3])
    clip = dataset[0]["video"][0]
    brightness = clip.float().mean(dim=(1, 2, 3)).round()
    # 8 frames at stride 2 over 3 frames loop from the start: 0 2 1 0 2 1 0 2 (brightness 10 per frame)
    torch.testing.assert_close(brightness, torch.tensor([0.0, 20, 10, 0, 20, 10, 0, 20]), atol=2, rtol=0)


def test_decode_time_limit_skips_a_slow_file(good_mp4):
    with pytest.raises(VideoDecodeError, match="good.mp4: decoding took longer than"):
        decode_clip(good_mp4, [0, 19], (24, 32), time_limit=1e-9)


def test_a_file_failing_in_a_worker_is_dropped_from_the_batch(tmp_path, good_mp4):
    text = write_bad_videos(tmp_path, good_mp4)["text"]
    dataset = VideoClipDataset([VideoItem(good_mp4, 0), VideoItem(text, 1)], 4, 2, (24, 32),
                               num_frames=[20, 20], split="train")
    batch = collate_clips([dataset[0], dataset[1]])
    assert batch["video"].shape == (1, 4, 24, 32, 3)
    assert [(path, split) for path, _, split in batch["failed"]] == [(str(text), "train")]


def test_a_file_failing_mid_epoch_is_named_once_and_counted_every_epoch(tmp_path, good_mp4, capsys):
    root = tmp_path / "videos"
    for split in ["train", "test"]:
        for name in ["a", "b"]:
            (root / split / name).mkdir(parents=True)
            write_video(root / split / name / "good.mp4", counting_frames(20))
    # Its first frames decode (the up-front probe passes); the frames an evaluation clip needs do not.
    tail = zero_frame_data(good_mp4, root / "test" / "b" / "corrupt_tail.mp4", from_packet=10)
    data = DarkVideoDataModule(dataset="folder", root=str(root), num_workers=0, clip_len=4,
                               frame_size=(32, 43), crop_size=28, num_clips=2, eval_batch_size=3,
                               manifest=str(tmp_path / "manifest.json"), max_broken_fraction=0.5)
    data.setup("validate")
    assert len(data.checked["val"].items) == 3 and not data.failed_videos
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(2):
            data.broken.epoch_failures["val"] = 0
            batches = [data.on_after_batch_transfer(b, 0) for b in data.val_dataloader()]
            assert sum(len(b["label"]) for b in batches) == 2
            assert data.broken.epoch_failures["val"] == 1
    assert list(data.failed_videos) == [str(tail)] and data.broken.broken_count("val") == 1
    # One plain line naming the file, not a Python warning with dlkdd's source line under it.
    notices = [line for line in capsys.readouterr().err.splitlines() if str(tail) in line]
    assert len(notices) == 1 and notices[0].startswith("dlkdd: skipping unreadable video ")
    assert not any(str(tail) in str(w.message) for w in caught)


def test_broken_fraction_threshold_stops_with_a_clear_error():
    log = BrokenVideoLog(max_fraction=0.25)
    log.exclude("train", total=8, broken={"a.mp4": "empty"})
    log.fail("train", "b.mp4", "decode error")
    log.fail("train", "b.mp4", "decode error")  # the same file again: still two broken files
    assert log.broken_count("train") == 2 and log.epoch_failures["train"] == 2
    expected = r"3 of the 8 videos of the train split.*max_broken_fraction=0.25"
    with pytest.raises(BrokenDatasetError, match=expected):
        log.fail("train", "c.mp4", "decode error")


def _class_folders(root: Path, good_sources: list[Path]) -> None:
    """Three classes of good mp4s (copies of the tiny dataset's), plus the bad and odd kinds mixed in."""
    for k, name in enumerate(["drink", "jump", "wave"]):
        (root / name).mkdir(parents=True)
        for j in range(5):
            shutil.copy(good_sources[(3 * k + j) % len(good_sources)], root / name / f"{name}_{j}.mp4")


def test_too_many_broken_files_stop_before_the_first_step(tmp_path, good_mp4):
    root = tmp_path / "videos"
    for name in ["a", "b"]:
        (root / name).mkdir(parents=True)
        shutil.copy(good_mp4, root / name / "good.mp4")
        write_bad_videos(root / name, good_mp4)
    data = DarkVideoDataModule(dataset="folder", root=str(root), holdout_fraction=0.5, num_workers=0,
                               manifest=str(tmp_path / "manifest.json"), max_broken_fraction=0.3)
    with pytest.raises(BrokenDatasetError, match="--data.max_broken_fraction"):
        data.setup("fit")


@pytest.mark.slow
def test_class_folders_with_broken_files_train_validate_test_predict(tiny_root, tmp_path, monkeypatch,
                                                                      capsys):
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "night_videos"
    _class_folders(root, sorted(tiny_root.rglob("*.mp4")))
    bad = {**write_bad_videos(root / "drink", sorted(tiny_root.rglob("*.mp4"))[0]),
           **write_odd_videos(root / "jump")}
    broken = {str(p) for p in bad.values() if p.parent.name == "drink"}
    # The CPU quickstart's teacher stage (tiny network, no LR monitor) on the class-folder data config.
    args = ["--config", str(CONFIGS / "synthetic/teacher.yaml"), "--data", str(CONFIGS / "folder/data.yaml"),
            f"--data.root={root}", "--data.holdout_fraction=0.4", "--data.max_broken_fraction=0.5",
            "--data.num_workers=0",
            "--data.clip_len=4", "--data.frame_size=[32, 43]", "--data.crop_size=28", "--data.batch_size=4",
            "--data.num_clips=2", "--data.num_crops=3", "--model.init_args.backbone=tiny3d",
            "--model.init_args.pretrained=null",  # from scratch: no pretraining stage ran here
            "--trainer.accelerator=cpu", "--trainer.precision=32", "--trainer.logger=false",
            "--trainer.enable_progress_bar=false"]

    def run(command: list[str]):
        capsys.readouterr()
        cli = main(command)
        messages = capsys.readouterr().err.splitlines()
        split_files = {str(p) for split in cli.datamodule.checked.values() for p in
                       [*(i.path for i in split.items), *split.broken]}
        for path in broken & split_files:
            assert sum(path in m for m in messages) == 1, f"{path} not named exactly once"
        return cli

    fitted = run(["fit", *args, "--trainer.max_epochs=1"])
    assert set(fitted.datamodule.failed_videos) == broken
    metrics = fitted.trainer.callback_metrics
    assert metrics["data/broken_videos_train"] + metrics["data/broken_videos_val"] == len(broken)
    run_folder = Path(fitted.trainer.checkpoint_callback.dirpath).parent
    assert (run_folder / "class_names.txt").read_text().split() == [
        "0", "drink", "1", "jump", "2", "wave"]
    ckpt = fitted.trainer.checkpoint_callback.best_model_path
    assert torch.load(ckpt, weights_only=True)["hyper_parameters"]["class_names"] == ["drink", "jump", "wave"]
    run(["validate", *args, "--ckpt_path", ckpt])
    tested = run(["test", *args, "--ckpt_path", ckpt])
    assert "test/top1" in tested.trainer.callback_metrics
    predicted = run(["predict", *args, "--ckpt_path", ckpt])
    outputs = [o for o in predicted.trainer.predict_loop.predictions if o is not None]
    usable = predicted.datamodule.checked["test"].items
    assert sum(len(o["probs"]) for o in outputs) == len(usable)
    with (tmp_path / "predictions.csv").open() as table:  # the CLI's prediction writer
        rows = list(csv.DictReader(table))
    predicted_rows = [r for r in rows if not r["error"]]
    assert {r["path"] for r in predicted_rows} == {str(i.path) for i in usable}
    assert {r["top1"] for r in predicted_rows} <= {"drink", "jump", "wave"}  # names, not indices
