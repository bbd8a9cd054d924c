"""The decoded-clip store (--data.clip_store): clips identical to those decoded from the original files,
rebuilt when a file changes, written once and atomically by concurrent builders, broken videos handled
as without it, and a CLI fit that trains with it."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from dlkdd.cli import main
from dlkdd.data import DarkVideoDataModule
from dlkdd.data.dataset import VideoClipDataset
from dlkdd.data.decode import decode_clip, probe
from dlkdd.data.samplers import SeededSamples
from dlkdd.data.sources import ARID_CLASSES, make_source
from dlkdd.data.store import ClipStore, read_frames
from dlkdd.synthetic.formats import generate_arid_like
from tests.conftest import CONFIGS, REPO, tiny_data_args
from tests.data.test_validation import counting_frames, write_video, zero_frame_data

FRAME_SIZE = (48, 64)


@pytest.fixture(scope="module")
def arid_root(tmp_path_factory) -> Path:
    """Two ARID-like videos: MPEG-4 Part 2 in AVI, 320x240, 30 fps, 2 s (keyframes every 12 frames)."""
    root = tmp_path_factory.mktemp("arid")
    return generate_arid_like(root, ARID_CLASSES[:2], per_class=1, seconds=2.0, workers=1)


def _videos(arid_root: Path, tiny_root: Path) -> list:
    """The ARID-like AVIs and two of the tiny dataset's H.264 mp4s."""
    return make_source("arid", arid_root, 1).items("train") + make_source("synthetic", tiny_root, 1).items(
        "train")[:2]


def test_stored_clips_equal_decoded_clips_train_and_eval(arid_root, tiny_root, tmp_path):
    items = _videos(arid_root, tiny_root)
    num_frames = [probe(item.path).num_frames for item in items]
    # Chunks of 7 frames: the store's decode seeks into the middle of GOPs, as a long video's does.
    store = ClipStore(tmp_path / "store", FRAME_SIZE, chunk=7)
    entries = store.build([i.path for i in items], num_frames, workers=2, progress=False)
    assert all(entries) and len(store.written) == len(items)
    for item, entry, n in zip(items, entries, num_frames, strict=True):
        assert np.array_equal(read_frames(entry, range(n)), decode_clip(item.path, range(n), FRAME_SIZE))
    # Training (random starts, seeded per sample; 16 x 4 spans 61 frames, so 60-frame videos loop) and
    # evaluation (uniform clips): the same arrays from the store as from the files.
    for clip_len, stride in [(8, 2), (16, 4)]:
        for num_clips in [None, 3]:
            decoded, stored = (VideoClipDataset(items, clip_len, stride, FRAME_SIZE, num_clips, num_frames,
                                                stored=s) for s in (None, entries))
            if num_clips is None:
                decoded, stored = SeededSamples(decoded), SeededSamples(stored)
            for k in range(len(items)):
                key = (k, 1000 + k) if num_clips is None else k
                a, b = decoded[key], stored[key]
                assert torch.equal(a["video"], b["video"]) and a.get("start") == b.get("start")


def test_a_changed_file_is_stored_again(tmp_path):
    video = write_video(tmp_path / "v.mp4", counting_frames(12))
    store = ClipStore(tmp_path / "store", (24, 32))
    [old] = store.build([video], [12], progress=False)
    assert store.build([video], [12], progress=False) == [old] and store.written == [old]  # reused
    time.sleep(0.01)
    write_video(video, counting_frames(12)[::-1])  # new content, size or mtime changed
    [new] = store.build([video], [12], progress=False)
    assert new != old and not old.exists() and store.written == [old, new]
    assert np.array_equal(read_frames(new, range(12)), decode_clip(video, range(12), (24, 32)))


def _build_after(barrier, paths: list[Path], folder: Path) -> list[str]:
    store = ClipStore(folder, FRAME_SIZE, chunk=7)
    barrier.wait()
    store.build(paths, [probe(p).num_frames for p in paths], workers=1, progress=False)
    return [e.name for e in store.written]


def test_concurrent_builders_write_each_file_once_and_atomically(arid_root, tiny_root, tmp_path):
    items = _videos(arid_root, tiny_root)
    paths = [i.path for i in items]
    folder = tmp_path / "store"
    context = multiprocessing.get_context("fork")
    with context.Manager() as manager:
        barrier = manager.Barrier(2)
        with context.Pool(2) as pool:
            jobs = [pool.apply_async(_build_after, (barrier, paths, folder)) for _ in range(2)]
            seen: set[str] = set()
            while not all(job.ready() for job in jobs):  # no half-written entry is ever visible
                for entry in (folder / "48x64").glob("*.npy") if (folder / "48x64").is_dir() else []:
                    frames = np.load(entry, mmap_mode="r")
                    assert frames.shape[1:] == (*FRAME_SIZE, 3) and frames[-1].any()
                    seen.add(entry.name)
            written = [job.get() for job in jobs]
    names = sorted(written[0] + written[1])
    assert len(names) == len(paths) and len(set(names)) == len(paths)  # each entry written exactly once
    assert sorted(p.name for p in (folder / "48x64").iterdir()) == names  # no temporary or lock file left


def test_broken_video_is_read_from_its_file_and_named_once(tmp_path, capsys):
    root = tmp_path / "videos"
    for split in ["train", "test"]:
        for name in ["a", "b"]:
            (root / split / name).mkdir(parents=True)
            write_video(root / split / name / "good.mp4", counting_frames(20))
    good = write_video(tmp_path / "good.mp4", counting_frames(20))
    # Its first frames decode (the up-front probe passes); the frames later clips need do not.
    tail = zero_frame_data(good, root / "test" / "b" / "corrupt_tail.mp4", from_packet=10)
    data = DarkVideoDataModule(dataset="folder", root=str(root), num_workers=0, clip_len=4,
                               frame_size=(32, 43), crop_size=28, num_clips=2, eval_batch_size=3,
                               manifest=str(tmp_path / "manifest.json"), max_broken_fraction=0.5,
                               clip_store=str(tmp_path / "store"))
    data.setup("validate")
    stored = dict(zip((str(i.path) for i in data.checked["val"].items), data.stored["val"], strict=True))
    assert stored.pop(str(tail)) is None and all(stored.values())
    assert len(list((tmp_path / "store").rglob("*.broken"))) == 1
    capsys.readouterr()
    for _ in range(2):
        data.broken.epoch_failures["val"] = 0
        batches = [data.on_after_batch_transfer(b, 0) for b in data.val_dataloader()]
        assert sum(len(b["label"]) for b in batches) == 2
        assert data.broken.epoch_failures["val"] == 1
    assert list(data.failed_videos) == [str(tail)]
    notices = [line for line in capsys.readouterr().err.splitlines() if str(tail) in line]
    assert len(notices) == 1 and notices[0].startswith("dlkdd: skipping unreadable video ")


def test_fit_with_the_store_from_the_cli(tiny_root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = tmp_path / "store"
    args = ["fit", "--config", str(CONFIGS / "synthetic/teacher.yaml"), *tiny_data_args(tiny_root),
            f"--data.clip_store={store}", "--trainer.max_epochs=1", "--trainer.accelerator=cpu",
            "--trainer.logger=false", "--trainer.enable_progress_bar=false"]
    cli = main(args)
    data = cli.datamodule
    entries = [e for split in ("train", "val") for e in data.stored[split]]
    assert all(entries) and {e.parent for e in entries} == {store / "32x43"}
    assert cli.trainer.global_step == len(data.checked["train"].items) // data.hparams.batch_size
    mtimes = {e: e.stat().st_mtime_ns for e in entries}
    again = main(args).datamodule  # a second run (or stage) reads the store, decodes nothing
    assert [e for split in ("train", "val") for e in again.stored[split]] == entries
    assert {e: e.stat().st_mtime_ns for e in entries} == mtimes
    shutil.rmtree(store)


@pytest.mark.slow
def test_fit_with_the_store_under_ddp(tiny_root, tmp_path):
    """Two DDP processes (gloo, launched as a user would): the node's rank 0 builds the store in
    prepare_data, both ranks train from it; every entry is there once, nothing half-written left."""
    store = tmp_path / "store"
    args = ["fit", "--config", str(CONFIGS / "synthetic/teacher.yaml"), *tiny_data_args(tiny_root),
            f"--data.clip_store={store}", "--trainer.max_epochs=1", "--trainer.accelerator=cpu",
            "--trainer.logger=false", "--trainer.enable_progress_bar=false", "--trainer.strategy=ddp",
            "--trainer.devices=2", "--trainer.enable_checkpointing=false", "--trainer.callbacks=[]"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "dlkdd", *args], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    source = make_source("synthetic", tiny_root, 1)
    videos = {item.path for split in ("train", "val") for item in source.items(split)}
    assert len(list((store / "32x43").glob("*.npy"))) == len(videos)
    assert all(p.suffix == ".npy" for p in (store / "32x43").iterdir())
