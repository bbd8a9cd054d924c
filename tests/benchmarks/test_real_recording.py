"""benchmarks/real_recording.py on the shared real ARID clips (skips without them): a recording made of
held-out real clips, annotated, watched end to end, scored, one annotated frame."""

from __future__ import annotations

import json
from pathlib import Path

import av
import pytest

from tests.conftest import CONFIGS


def one_step_on_real_clips(arid6: Path, folder: Path) -> Path:
    """A real `dlkdd fit` of the CPU route's teacher config on the real clips' training sessions, one step
    with a tiny network: a checkpoint with ARID's classes (not a good one)."""
    from benchmarks.real_cpu_route import scene_grouped_split, write_lists
    from dlkdd.cli import main

    lists = write_lists(scene_grouped_split(arid6, 0.3), folder / "splits")
    fit = main(["fit", "--config", str(CONFIGS / "cpu/teacher.yaml"), "--data.dataset=list",
                f"--data.root={folder / 'splits'}",
                f"--data.lists={{train: {lists['train']}, test: {lists['test']}}}",
                "--model.init_args.backbone=tiny3d", "--data.clip_len=4", "--data.frame_size=[32, 43]",
                "--data.crop_size=28", "--data.batch_size=4", "--data.num_workers=0",
                "--trainer.max_epochs=1", "--trainer.limit_train_batches=1", "--trainer.limit_val_batches=1",
                "--trainer.logger=false", "--trainer.accelerator=cpu", "--trainer.enable_progress_bar=false",
                f"--trainer.callbacks.init_args.dirpath={folder / 'ckpt'}"])
    return Path(fit.trainer.checkpoint_callback.best_model_path)


@pytest.mark.slow
def test_a_recording_of_real_clips_is_watched_and_scored(arid6, tmp_path):
    from benchmarks import real_recording

    student = one_step_on_real_clips(arid6, tmp_path)
    results = real_recording.main(["--root", str(arid6), "--ckpt_path", str(student), "--clips", "4",
                                   "--work", str(tmp_path / "work"), "--frame", str(tmp_path / "frame.png"),
                                   "--out", str(tmp_path / "real.json")])
    annotations = json.loads((tmp_path / "work" / "real.mp4.json").read_text())
    segments = annotations["segments"]
    assert [s["class"] for s in segments] == ["Jump", "Run", "Sit", "Stand"]  # the classes take turns
    assert all(a["end_frame"] == b["start_frame"] for a, b in zip(segments, segments[1:], strict=False))
    with av.open(str(tmp_path / "work" / "real.mp4")) as container:
        times = [frame.time for frame in container.decode(video=0)]
    assert len(times) == annotations["num_frames"] > 4 * 30
    assert times == pytest.approx([k / annotations["fps"] for k in range(len(times))])  # one clock, 30 fps
    assert results["clips"] == 4 and 0 <= results["figures"]["event_f1"] <= 1
    timeline = Path(tmp_path / "work" / "watch" / "real.timeline.csv").read_text().splitlines()
    assert len(timeline) > 1 + annotations["num_frames"] / 30 / 0.5 - 4  # a window every 0.5 s
    assert (tmp_path / "frame.png").stat().st_size > 0
    assert json.loads((tmp_path / "real.json").read_text())["provenance"]["commit"]
