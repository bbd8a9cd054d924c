"""The teacher-target cache: each training clip's teacher forward runs once, the student learns exactly
what it learns without the cache, and a view that changes between draws is refused."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch

from dlkdd.cli import main
from dlkdd.models import DistillModule, GenKDOptions, TeacherModule
from dlkdd.synthetic.dataset import split_list_path
from tests.conftest import CONFIGS, save_as_fit_would, tiny_data_args

LOCAL = ["--trainer.accelerator=cpu", "--trainer.logger=false", "--trainer.max_epochs=2"]
# The tiny videos have 16 frames; 4 frames at stride 5 span all 16, so each video is one clip.
FIXED_VIEWS = ["--data.augment=false", "--data.frame_stride=5"]
CACHE = "--model.init_args.cache_teacher_targets=true"


def _teacher_checkpoint(path: Path) -> str:
    """A teacher checkpoint as `dlkdd fit` writes it (random weights: the cache does not care)."""
    teacher = TeacherModule(num_classes=10, backbone="tiny_r2plus1d", view="enhanced")
    return str(save_as_fit_would(teacher, path))


def _distill_args(data: list[str], teacher: str) -> list[str]:
    return ["--config", str(CONFIGS / "synthetic/distill.yaml"), *data, *LOCAL, "--seed_everything=3",
            f"--model.init_args.teacher_checkpoint={teacher}"]


class TrainingClipsThroughTheTeacher(L.Callback):
    """Counts the clips the teacher's forward sees during training steps."""

    def __init__(self) -> None:
        self.clips = 0

    def on_fit_start(self, trainer: L.Trainer, pl_module: DistillModule) -> None:
        def count(module, args, output) -> None:
            self.clips += len(args[0]) if trainer.training else 0

        pl_module.teacher.register_forward_hook(count)


@pytest.mark.slow
def test_cached_targets_teach_the_same_student_with_one_teacher_forward_per_clip(
    tiny_root, tmp_path, monkeypatch
):
    data = [*tiny_data_args(tiny_root), *FIXED_VIEWS]
    teacher = _teacher_checkpoint(tmp_path / "teacher.ckpt")
    for run in ("cached", "plain"):  # each run its own relative runs/ folder
        (tmp_path / run).mkdir()

    monkeypatch.chdir(tmp_path / "cached")
    cached = main([*_distill_args(data, teacher), CACHE], run=False)
    counter = TrainingClipsThroughTheTeacher()
    cached.trainer.callbacks.append(counter)
    cached.trainer.fit(cached.model, datamodule=cached.datamodule)
    monkeypatch.chdir(tmp_path / "plain")
    plain = main(["fit", *_distill_args(data, teacher)])

    train_videos = len(split_list_path(tiny_root, "train").read_text().splitlines())
    assert counter.clips == train_videos  # 2 epochs; without the cache it is twice that
    assert len(cached.model.teacher_targets) == train_videos
    assert float(cached.trainer.callback_metrics["train/teacher_cache_hits"]) == 1.0
    # The cached logits are the teacher's own: the student learns what it learns without the cache.
    for name, weight in plain.model.state_dict().items():
        torch.testing.assert_close(cached.model.state_dict()[name], weight, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_the_cache_refuses_augmented_views(tiny_root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    teacher = _teacher_checkpoint(tmp_path / "teacher.ckpt")
    with pytest.raises(ValueError, match="--data.augment false"):
        main(["fit", *_distill_args(tiny_data_args(tiny_root), teacher), CACHE])


def test_the_cache_is_for_logit_kd_only():
    with pytest.raises(ValueError, match="cache_teacher_targets .* GenKD"):
        DistillModule(10, "teacher.ckpt", genkd=GenKDOptions(), cache_teacher_targets=True)
