"""The inference core: a checkpoint becomes a ClipModel with the clip settings it was trained on, and its
probabilities on decoded frames are the ones the Lightning predict path computes for the same clip."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dlkdd.cli import main
from dlkdd.data.decode import decode_clip
from dlkdd.inference import ClipSpec, TorchClipModel, load_clip_model
from dlkdd.synthetic.dataset import split_list_path
from tests.conftest import CONFIGS, one_step_checkpoint, tiny_data_args

LOCAL = ["--trainer.accelerator=cpu", "--trainer.enable_progress_bar=false", "--trainer.logger=false"]


@pytest.fixture(scope="module")
def teacher_checkpoint(tiny_root, tmp_path_factory) -> Path:
    return one_step_checkpoint("synthetic/teacher.yaml", tiny_root, tmp_path_factory.mktemp("core-ckpt"))


def test_the_spec_is_the_checkpoints_clip_settings(teacher_checkpoint):
    model = load_clip_model(teacher_checkpoint)
    assert isinstance(model, TorchClipModel)
    assert model.spec.clip_len == 4 and model.spec.frame_stride == 3
    assert model.spec.frame_size == (32, 43) and model.spec.crop_size == 28
    assert model.spec.view == "enhanced" and model.spec.enhancer == "gic"  # teacher: enhancer in graph
    assert model.spec.span == 10 and len(model.spec.class_names) == 10


def test_probabilities_match_the_lightning_forward_on_the_same_clip(tiny_root, teacher_checkpoint):
    model = load_clip_model(teacher_checkpoint)
    video = tiny_root / split_list_path(tiny_root, "test").read_text().splitlines()[0].split("\t")[2]
    frames = torch.from_numpy(decode_clip(video, range(0, model.spec.span, model.spec.frame_stride),
                                          model.spec.frame_size))[None]
    probs = model.probabilities(frames)
    assert probs.shape == (1, 10) and torch.allclose(probs.sum(dim=1), torch.ones(1))

    # The same clip through the training code's own pieces: data module views, then the module's forward.
    cli = main(["--config", str(CONFIGS / "synthetic/teacher.yaml"), *tiny_data_args(tiny_root),
                *LOCAL], run=False)
    module = type(cli.model).load_from_checkpoint(teacher_checkpoint, weights_only=True).eval()
    views = cli.datamodule.views(frames, train=False, views={"enhanced"})
    with torch.inference_mode():
        expected = module(views["enhanced"]).softmax(dim=-1)
    torch.testing.assert_close(probs, expected)


def test_a_file_of_unknown_type_names_the_types(tmp_path):
    with pytest.raises(ValueError, match=r"unknown model file type '\.bin'.*\.ckpt"):
        load_clip_model(tmp_path / "student.bin")


def test_a_checkpoint_without_data_settings_says_so():
    with pytest.raises(ValueError, match="no data settings"):
        ClipSpec.from_checkpoint({"hyper_parameters": {}}, "x.ckpt")
