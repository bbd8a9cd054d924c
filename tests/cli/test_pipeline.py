"""End to end through the real CLI on real mp4 files: teacher fit -> distill fit -> test -> predict."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from dlkdd.backbones import create_backbone
from dlkdd.cli import main
from dlkdd.synthetic.dataset import split_list_path
from tests.conftest import CONFIGS, tiny_data_args

# No W&B here (its startup costs seconds; tests/callbacks/test_wandb.py covers it).
LOCAL = ["--trainer.accelerator=cpu", "--trainer.logger=false"]
FAST = ["--trainer.max_epochs=2", *LOCAL]


def _with_a_broken_video(tiny_root: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the tiny dataset whose test list names one corrupt mp4 among the good ones."""
    root = tmp_path / "data"
    shutil.copytree(tiny_root, root)
    broken = root / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 50)
    test_list = split_list_path(root, "test")
    lines = test_list.read_text().splitlines()
    test_list.write_text("\n".join([*lines, f"{len(lines)}\t0\tbroken.mp4"]) + "\n")
    return root, broken


@pytest.mark.slow
def test_teacher_distill_test_predict(tiny_root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root, broken = _with_a_broken_video(tiny_root, tmp_path)
    data = tiny_data_args(root)

    teacher = main(["fit", "--config", str(CONFIGS / "synthetic/teacher.yaml"), *data, *FAST])
    teacher_ckpt = teacher.trainer.checkpoint_callback.best_model_path
    assert not (tmp_path / "config.yaml").exists()  # no logger: nothing loose in the working directory
    assert Path(teacher_ckpt).is_file()
    assert "train/loss" in teacher.trainer.callback_metrics and "val/top1" in teacher.trainer.callback_metrics

    distill_config = str(CONFIGS / "synthetic/distill.yaml")
    student = main(["fit", "--config", distill_config, *data, *FAST,
                    f"--model.init_args.teacher_checkpoint={teacher_ckpt}"])
    metrics = student.trainer.callback_metrics
    assert {"train/loss_ce", "train/loss_kd", "val/top1", "val/top5"} <= set(metrics)
    teacher_net = student.model.teacher
    assert teacher_net is not None and not teacher_net.training
    assert not any(p.requires_grad for p in teacher_net.parameters())

    student_ckpt = student.trainer.checkpoint_callback.best_model_path
    checkpoint = torch.load(student_ckpt, map_location="cpu", weights_only=True)
    keys = set(checkpoint["state_dict"])
    assert not any("teacher" in k for k in keys)
    plain_student = {f"backbone.{k}" for k in create_backbone("tiny3d", 10).state_dict()}
    assert {k for k in keys if k.startswith("backbone.")} == plain_student
    assert checkpoint["dlkdd"]["module"] == "DistillModule"

    # The student is tested and used without the teacher's file.
    Path(teacher_ckpt).unlink()
    tested = main(["test", "--config", distill_config, *data, *LOCAL,
                   "--ckpt_path", student_ckpt])
    top1 = float(tested.trainer.callback_metrics["test/top1"])
    assert 0.0 <= top1 <= 1.0 and "test/top5" in tested.trainer.callback_metrics
    assert str(broken) in tested.datamodule.failed_videos  # skipped, named, and the run finished

    predicted = main(["predict", "--config", distill_config, *data, *LOCAL,
                      "--ckpt_path", student_ckpt])
    outputs = [o for o in predicted.trainer.predict_loop.predictions if o is not None]
    probs = torch.cat([o["probs"] for o in outputs])
    num_good_test_videos = len(split_list_path(root, "test").read_text().splitlines()) - 1
    assert probs.shape == (num_good_test_videos, 10)
    torch.testing.assert_close(probs.sum(dim=1), torch.ones(len(probs)))
