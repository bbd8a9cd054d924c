"""The configs are package data: named from any folder, copied out with `dlkdd configs`, shipped in the wheel
(.ci/run installs the wheel and runs `dlkdd quickstart` from an empty folder)."""

from __future__ import annotations

import sys

import pytest

from dlkdd.cli import main, run
from dlkdd.shipped import SHIPPED, resolve_config_args
from tests.conftest import CONFIGS


def test_the_package_ships_every_config_of_the_repository():
    repository = sorted(p.relative_to(CONFIGS) for p in CONFIGS.rglob("*.yaml"))
    assert repository and sorted(p.relative_to(SHIPPED) for p in SHIPPED.rglob("*.yaml")) == repository
    assert all((SHIPPED / p).read_bytes() == (CONFIGS / p).read_bytes() for p in repository)


def test_a_config_named_from_another_folder_is_the_shipped_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no configs/ here
    cli = main(["--config", "configs/arid/teacher.yaml", "--trainer.accelerator=cpu"], run=False)
    assert cli.datamodule.hparams.dataset == "arid"  # its data.yaml, beside it in the package, was read
    assert resolve_config_args(["--config=folder/teacher.yaml", "--data", "configs/folder/data.yaml"]) == [
        f"--config={SHIPPED / 'folder/teacher.yaml'}", "--data", str(SHIPPED / "folder/data.yaml")]


def test_a_local_file_wins_over_the_shipped_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs/arid").mkdir(parents=True)
    (tmp_path / "configs/arid/teacher.yaml").write_text("seed_everything: 7\n")
    for argv in (["--config", "configs/arid/teacher.yaml"], ["--config", "configs/arid/nope.yaml"]):
        assert resolve_config_args(argv) == argv


def test_dlkdd_configs_copies_them_out_and_does_not_overwrite(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["dlkdd", "configs", str(tmp_path)])
    run()
    copied = sorted(p.relative_to(tmp_path / "configs") for p in (tmp_path / "configs").rglob("*.yaml"))
    assert copied == sorted(p.relative_to(CONFIGS) for p in CONFIGS.rglob("*.yaml"))
    assert "dlkdd fit --config" in capsys.readouterr().out
    with pytest.raises(SystemExit) as refused:
        run()  # already there: refused without --force, as one `dlkdd: error:` paragraph
    said = str(refused.value.code)
    assert said.startswith("dlkdd: error: ") and "--force" in said and "`dlkdd configs --help`" in said
    monkeypatch.setattr(sys, "argv", ["dlkdd", "configs", str(tmp_path), "--force"])
    run()
