"""Every shipped YAML parses and instantiates through the real CLI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import yaml

from dlkdd.backbones.published import is_published, published_weights
from dlkdd.cli import main
from dlkdd.data import DarkVideoDataModule
from dlkdd.enhance import create_enhancer
from dlkdd.models import DistillModule, EnhancerModule, TeacherModule, TwoStreamModule
from dlkdd.synthetic.dataset import BRIGHT_CLASS_NAMES

from .conftest import CONFIGS, save_as_fit_would

ALL_YAML = sorted(CONFIGS.rglob("*.yaml"))
STAGE_YAML = [p for p in ALL_YAML if "model" in yaml.safe_load(p.read_text())]
DATA_YAML = [p for p in ALL_YAML if p not in STAGE_YAML]


def test_configs_are_shipped():
    names = {str(p.relative_to(CONFIGS)) for p in ALL_YAML}
    required = {"synthetic/teacher.yaml", "synthetic/distill.yaml", "arid/teacher.yaml", "arid/distill.yaml"}
    assert required <= names


def _write_enhancer_checkpoint(declared: dict) -> None:
    """A config whose enhancer reads the checkpoint an earlier run writes (teacher_zero_dce.yaml after
    enhancer.yaml) gets a real, untrained file of the network it names at that relative path; one that
    names published weights (zero_dce_sice) finds such a file in the torch hub cache, as after a download
    (tests/test_weights_download.py downloads the real file)."""
    data = declared.get("data")
    checkpoint = (data.get("enhancer_options") or {}).get("checkpoint") if isinstance(data, dict) else None
    if checkpoint:
        path = Path(checkpoint)
        if is_published(checkpoint):
            path = published_weights(checkpoint, data["enhancer"], None).cache_path
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(create_enhancer(data["enhancer"]).state_dict(), path)  # the network it names


def _write_pretrained_checkpoint(declared: dict) -> None:
    """A config that starts from the pretraining stage's weights (configs/synthetic/pretrain.yaml) gets a
    real, untrained checkpoint of the bright corpus's classes at that relative path."""
    init = declared["model"].get("init_args", {})
    checkpoint = init.get("pretrained")
    if checkpoint and checkpoint.startswith("runs/"):
        Path(checkpoint).parent.mkdir(parents=True, exist_ok=True)
        names = list(BRIGHT_CLASS_NAMES)
        module = TeacherModule(len(names), init["backbone"], class_names=names)
        save_as_fit_would(module, Path(checkpoint))


@pytest.fixture
def hub_cache(tmp_path: Path) -> Iterator[Path]:
    """An empty torch hub cache: no config test sees (or fills) the machine's."""
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    yield tmp_path / "hub"
    torch.hub.set_dir(old)


@pytest.mark.parametrize("config", STAGE_YAML, ids=lambda p: str(p.relative_to(CONFIGS)))
def test_stage_config_instantiates(config: Path, tmp_path, monkeypatch, hub_cache):
    monkeypatch.chdir(tmp_path)  # relative run folders land in tmp
    declared = yaml.safe_load(config.read_text())
    _write_enhancer_checkpoint(declared)
    _write_pretrained_checkpoint(declared)
    cli = main(["--config", str(config), "--trainer.accelerator=cpu"], run=False)
    expected = {
        "TeacherModule": TeacherModule,
        "DistillModule": DistillModule,
        "EnhancerModule": EnhancerModule,
        "TwoStreamModule": TwoStreamModule,
    }
    assert type(cli.model) is expected[declared["model"]["class_path"]]
    assert isinstance(cli.datamodule, DarkVideoDataModule)
    if isinstance(cli.model, EnhancerModule):
        assert cli.model.input_views == {"original"}  # trained on the dark clips; no labels to link
        return
    assert cli.model.hparams.num_classes == cli.datamodule.num_classes  # linked, not repeated
    assert cli.model.hparams.class_names == cli.datamodule.class_names
    cli.model.backbone.check_input(cli.datamodule.hparams.clip_len, cli.datamodule.hparams.crop_size)


@pytest.mark.parametrize("config", DATA_YAML, ids=lambda p: str(p.relative_to(CONFIGS)))
def test_data_config_is_used_and_parses(config: Path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    users = [p for p in STAGE_YAML if yaml.safe_load(p.read_text()).get("data") == config.name
             and p.parent == config.parent]
    assert users, f"{config} is shipped but no stage config uses it"
    cli = main(["--model=TeacherModule", "--data", str(config), "--trainer.accelerator=cpu"], run=False)
    assert cli.datamodule.hparams.dataset == yaml.safe_load(config.read_text())["dataset"]
