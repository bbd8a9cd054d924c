"""Every shipped YAML parses and instantiates through the real CLI, and writes to its run folder."""

from __future__ import annotations

import contextlib
import io
import os
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
from tests.conftest import CONFIGS, save_as_fit_would

ALL_YAML = sorted(CONFIGS.rglob("*.yaml"))
DATA_YAML = [p for p in ALL_YAML if "dataset" in yaml.safe_load(p.read_text())]
SHARED_STAGES = sorted((CONFIGS / "stages").glob("*.yaml"))  # used through the datasets' files
STAGE_YAML = [p for p in ALL_YAML if p not in DATA_YAML and p not in SHARED_STAGES]

# Where each config's checkpoints go: runs/<dataset>/<file name>/checkpoints (derived or written out),
# except these, which name another folder.
RUN_FOLDERS = {
    "arid/teacher_ddp.yaml": "runs/arid/teacher/checkpoints",  # the 1-GPU stage's: distill.yaml reads it
    "arid/distill_ddp.yaml": "runs/arid/distill/checkpoints",
    "synthetic/pretrain.yaml": "runs/synthetic/pretrain/tiny3d",  # where the others read pretrained.ckpt
}


def effective_config(argv: list[str]) -> dict:
    """The configuration `dlkdd fit ARGV --print_config` prints: what the files resolve to."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), pytest.raises(SystemExit):
        main(["fit", *argv, "--print_config"])
    return yaml.safe_load(printed.getvalue())


def checkpoint_folders(cli, cwd: Path) -> list[str]:
    return [os.path.relpath(c.dirpath, os.path.realpath(cwd)) for c in cli.trainer.checkpoint_callbacks]


def test_configs_are_shipped():
    names = {str(p.relative_to(CONFIGS)) for p in ALL_YAML}
    required = {"synthetic/teacher.yaml", "synthetic/distill.yaml", "arid/teacher.yaml", "arid/distill.yaml"}
    assert required <= names


def _write_enhancer_checkpoint(declared: dict) -> None:
    """A config whose enhancer reads the checkpoint an earlier run writes (teacher_zero_dce.yaml after
    enhancer.yaml) gets a real, untrained file of the network it names at that relative path; one that
    names published weights (zero_dce_sice) finds such a file in the torch hub cache, as after a download
    (tests/backbones/test_download.py downloads the real file)."""
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
    declared = effective_config(["--config", str(config)])  # composed files resolved
    _write_enhancer_checkpoint(declared)
    _write_pretrained_checkpoint(declared)
    cli = main(["--config", str(config), "--trainer.accelerator=cpu"], run=False)
    expected = {
        "TeacherModule": TeacherModule,
        "DistillModule": DistillModule,
        "EnhancerModule": EnhancerModule,
        "TwoStreamModule": TwoStreamModule,
    }
    assert type(cli.model) is expected[declared["model"]["class_path"].rpartition(".")[2]]
    assert isinstance(cli.datamodule, DarkVideoDataModule)
    name = str(config.relative_to(CONFIGS))
    assert set(checkpoint_folders(cli, tmp_path)) == {
        RUN_FOLDERS.get(name, f"runs/{config.parent.name}/{config.stem}/checkpoints")}
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


def _composed(path: Path) -> tuple[Path, list[str]] | None:
    """(the shared stage file, the options the dataset's file adds) of a file that composes one."""
    text = yaml.safe_load(path.read_text())
    if not str(text.get("config", "")).startswith("../stages/"):
        return None
    extra = [f"--{key}={value}" for key, value in text.items() if key not in ("config", "data")]
    return (path.parent / text["config"]).resolve(), extra


COMPOSED = [p for p in STAGE_YAML if _composed(p)]


def test_every_shared_stage_serves_the_datasets():
    used = {_composed(p)[0] for p in COMPOSED}
    assert used == set(SHARED_STAGES)
    assert {p.parent.name for p in COMPOSED} == {"arid", "arid15", "dark48", "folder"}


@pytest.mark.parametrize("config", COMPOSED, ids=lambda p: str(p.relative_to(CONFIGS)))
def test_a_datasets_stage_is_the_shared_stage_on_its_data(config: Path):
    """configs/arid/teacher.yaml is `--config configs/stages/teacher.yaml --data configs/arid/data.yaml`:
    the same configuration, key for key."""
    stage, extra = _composed(config)
    together = effective_config(["--config", str(stage), "--data", str(config.parent / "data.yaml"), *extra])
    assert together == effective_config(["--config", str(config)])
    assert together["data"]["dataset"] == config.parent.name and stage.stem == config.stem


def test_a_checkpoint_folder_not_given_is_named_by_the_data_and_the_stage(tmp_path):
    shared = main(["--config", str(CONFIGS / "stages/teacher.yaml"),
                   "--data", str(CONFIGS / "folder/data.yaml"), "--model.init_args.pretrained=null",
                   "--trainer.accelerator=cpu"], run=False)
    assert checkpoint_folders(shared, tmp_path) == ["runs/folder/teacher/checkpoints"]
    # No --config: the model's kind names the stage; a dirpath given is kept.
    base = ["--data", str(CONFIGS / "synthetic/data.yaml"), "--model=TwoStreamModule",
            "--model.init_args.backbone=tiny3d", "--trainer.accelerator=cpu",
            "--trainer.callbacks=ModelCheckpoint"]
    assert checkpoint_folders(main(base, run=False), tmp_path) == ["runs/synthetic/two_stream/checkpoints"]
    given = main([*base, "--trainer.callbacks.dirpath=mine"], run=False)
    assert checkpoint_folders(given, tmp_path) == ["mine"]
