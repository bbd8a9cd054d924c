"""First-run mistakes stop before any training step with one message that names the option and the fix."""

from __future__ import annotations

import sys

import pytest

from dlkdd.cli import main, run
from tests.conftest import CONFIGS, tiny_data_args

CONFIG = str(CONFIGS / "synthetic/teacher.yaml")
LOCAL = ["--trainer.accelerator=cpu", "--trainer.logger=false", "--trainer.enable_progress_bar=false"]


def console(monkeypatch, capsys, *args: str) -> str:
    """Run the `dlkdd` console entry point; return what it printed on exit (no traceback)."""
    monkeypatch.setattr(sys, "argv", ["dlkdd", *args])
    monkeypatch.delenv("DLKDD_TRACEBACK", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        run()
    message = str(exit_info.value.code)
    assert message.startswith("dlkdd: error: ")
    assert "Traceback" not in capsys.readouterr().err
    return message


def test_unknown_backbone_suggests_the_close_name(tiny_root, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    message = console(monkeypatch, capsys, "fit", "--config", CONFIG, *tiny_data_args(tiny_root), *LOCAL,
                      "--model.init_args.backbone=tiny_r2plus1", "--model.init_args.pretrained=null")
    assert "Unknown backbone 'tiny_r2plus1' (option --model.init_args.backbone)" in message
    assert "Did you mean 'tiny_r2plus1d'" in message and "Known:" in message
    assert "Union subtypes" not in message  # jsonargparse's wrapper is peeled off


def test_unknown_enhancer_suggests_the_close_name(tiny_root, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    message = console(monkeypatch, capsys, "fit", "--config", CONFIG, *tiny_data_args(tiny_root), *LOCAL,
                      "--data.enhancer=clahee")
    assert "Unknown enhancer 'clahee' (option --data.enhancer)" in message
    assert "Did you mean 'clahe'" in message


@pytest.mark.slow
def test_a_clip_longer_than_the_backbone_allows_stops_before_training(tiny_root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # MViT-v2-S only runs on exactly 16 frames; 32 is a common setting for the other nets.
    with pytest.raises(ValueError) as error:
        main(["fit", "--config", CONFIG, *tiny_data_args(tiny_root), *LOCAL, "--data.clip_len=32",
              "--model.init_args.backbone=mvit_v2_s"])
    message = str(error.value)
    assert "mvit_v2_s" in message and "exactly 16 frames" in message
    assert "--data.clip_len is 32" in message and "clip_len=16" in message
    # Raised by the setup hook, which Lightning runs before the sanity check and the first step.
    assert any(entry.name == "setup" and entry.path.name == "input_check.py" for entry in error.traceback)


def test_predict_without_a_checkpoint_names_ckpt_path(tiny_root, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    message = console(monkeypatch, capsys, "predict", "--config", CONFIG, *tiny_data_args(tiny_root), *LOCAL)
    assert "--ckpt_path" in message and "best.ckpt" in message
