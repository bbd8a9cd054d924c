"""The named contracts between the data and the rest: the batches carry exactly the keys their types name,
and the clip spec's stored names (checkpoints, exported files) are the DataModule's own and stay fixed."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dlkdd.cli import main
from dlkdd.data import Batch, ClipSpec, DarkVideoDataModule
from dlkdd.data.batch import LoadedBatch
from dlkdd.inference import load_clip_model
from tests.conftest import CONFIGS, one_step_checkpoint, tiny_data_args

# What every checkpoint and exported file already written stores, by these names: never rename one.
STORED_SPEC_KEYS = ["clip_len", "frame_stride", "frame_size", "crop_size", "class_names", "view", "enhancer",
                    "enhancer_options", "backbone", "event_settings"]


def test_the_batches_carry_the_keys_their_types_name(tiny_root, tmp_path):
    data = DarkVideoDataModule(dataset="synthetic", root=str(tiny_root), clip_len=4, frame_size=(32, 43),
                               crop_size=28, batch_size=2, eval_batch_size=2, num_workers=0,
                               manifest=str(tmp_path / "manifest.json"))
    data.setup("fit")
    loaded = next(iter(data.train_dataloader()))
    assert set(loaded) == set(LoadedBatch.__annotations__)  # training batches carry "start"
    loaded = next(iter(data.val_dataloader()))
    assert set(loaded) == set(LoadedBatch.__annotations__) - {"start"}
    batch = data.on_after_batch_transfer(loaded, 0)  # no trainer: every view, evaluation crops
    assert set(batch) == set(Batch.__annotations__) - {"start"}  # both views: no model chose


def test_the_stored_spec_keys_are_fixed():
    spec = ClipSpec(clip_len=4, frame_stride=3, frame_size=(32, 43), crop_size=28, class_names=["a", "b"],
                    view="enhanced", enhancer="gic", enhancer_options={"gamma": 2.0}, backbone="tiny3d",
                    event_settings={"event_enter": 0.6})
    assert list(spec.to_dict()) == STORED_SPEC_KEYS
    assert ClipSpec.from_dict({**spec.to_dict(), "frame_size": [32, 43]}) == spec  # JSON gives a list
    assert spec.clip_options() == {"clip_len": 4, "frame_stride": 3, "frame_size": [32, 43], "crop_size": 28}


@pytest.fixture(scope="module")
def teacher_checkpoint(tiny_root, tmp_path_factory):
    return one_step_checkpoint("synthetic/teacher.yaml", tiny_root, tmp_path_factory.mktemp("contracts-ckpt"))


def test_the_datamodule_makes_the_spec_its_checkpoint_gives_back(tiny_root, teacher_checkpoint):
    cli = main(["--config", str(CONFIGS / "synthetic/teacher.yaml"), *tiny_data_args(tiny_root),
                "--trainer.accelerator=cpu", "--trainer.logger=false"], run=False)
    saved = load_clip_model(teacher_checkpoint).spec
    assert saved.view == "enhanced" and saved.backbone  # the model's part of the spec
    assert cli.datamodule.clip_spec == replace(saved, view="original", backbone="")
