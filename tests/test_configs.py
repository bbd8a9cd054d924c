"""Every shipped YAML parses and instantiates through the real CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dlkdd.cli import main
from dlkdd.data import DarkVideoDataModule
from dlkdd.models import DistillModule, TeacherModule

from .conftest import CONFIGS

ALL_YAML = sorted(CONFIGS.rglob("*.yaml"))
STAGE_YAML = [p for p in ALL_YAML if "model" in yaml.safe_load(p.read_text())]
DATA_YAML = [p for p in ALL_YAML if p not in STAGE_YAML]


def test_configs_are_shipped():
    names = {str(p.relative_to(CONFIGS)) for p in ALL_YAML}
    required = {"synthetic/teacher.yaml", "synthetic/distill.yaml", "arid/teacher.yaml", "arid/distill.yaml"}
    assert required <= names


@pytest.mark.parametrize("config", STAGE_YAML, ids=lambda p: str(p.relative_to(CONFIGS)))
def test_stage_config_instantiates(config: Path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative run folders land in tmp
    cli = main(["--config", str(config), "--trainer.accelerator=cpu"], run=False)
    declared = yaml.safe_load(config.read_text())
    expected = {"TeacherModule": TeacherModule, "DistillModule": DistillModule}
    assert type(cli.model) is expected[declared["model"]["class_path"]]
    assert isinstance(cli.datamodule, DarkVideoDataModule)
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
