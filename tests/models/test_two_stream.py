"""The two-stream reference model: trains on both views, and costs exactly two student passes."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from dlkdd.cli import main
from dlkdd.models import TeacherModule, TwoStreamModule
from tests.conftest import CONFIGS, tiny_data_args


def _flops(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def test_two_stream_costs_two_student_passes():
    student = TeacherModule(num_classes=10, backbone="tiny3d", view="original").eval()
    two_stream = TwoStreamModule(num_classes=10, backbone="tiny3d").eval()
    clip = torch.rand(2, 3, 8, 56, 56)
    with torch.no_grad():
        assert _flops(lambda: two_stream(clip, clip)) == 2 * _flops(lambda: student(clip))
    assert sum(p.numel() for p in two_stream.parameters()) == 2 * sum(p.numel() for p in student.parameters())


def test_two_stream_fuses_both_views():
    model = TwoStreamModule(num_classes=10, backbone="tiny3d").eval()
    dark, bright = torch.rand(2, 3, 8, 56, 56) * 0.1, torch.rand(2, 3, 8, 56, 56)
    with torch.no_grad():
        assert not torch.allclose(model(dark, bright), model(dark, dark))


@pytest.mark.slow
def test_two_stream_fits_and_tests_from_the_cli(tiny_root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["--config", str(CONFIGS / "synthetic/two_stream.yaml"), *tiny_data_args(tiny_root),
            "--trainer.max_epochs=1", "--trainer.accelerator=cpu", "--trainer.logger=false"]
    fit = main(["fit", *args])
    assert fit.model.input_views == {"original", "enhanced"}
    best = fit.trainer.checkpoint_callback.best_model_path
    test = main(["test", *args, "--ckpt_path", best])
    assert 0.0 <= float(test.trainer.callback_metrics["test/top1"]) <= 1.0
