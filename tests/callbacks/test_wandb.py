"""W&B by default: a tiny fit + test in offline mode, read back from the run's own files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import wandb

from dlkdd.callbacks.wandb_run import run_name, wandb_key_found
from dlkdd.cli import main
from tests.conftest import CONFIGS, tiny_data_args

from .wandb_records import read_offline_run

TINY_RUN = ["--trainer.accelerator=cpu", "--trainer.max_epochs=1", "--trainer.limit_train_batches=4",
            "--trainer.limit_val_batches=4", "--trainer.limit_test_batches=3",
            "--trainer.log_every_n_steps=1", "--trainer.enable_progress_bar=false",
            "--data.eval_batch_size=2"]  # 5 validation batches: the 4 clips come from 4 of them


def _runs(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "runs" / "synthetic" / "wandb").glob("offline-run-*"))


@pytest.mark.slow
def test_fit_and_test_leave_an_offline_run_with_the_dashboard(tiny_root, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    wandb.teardown()  # an earlier test's W&B session would keep its settings and ignore the ones below
    monkeypatch.delenv("WANDB_MODE", raising=False)  # offline must come from the missing key
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    config = str(CONFIGS / "synthetic/teacher.yaml")
    args = [*tiny_data_args(tiny_root), *TINY_RUN]

    fit = main(["fit", "--config", config, *args])
    offline_line = capsys.readouterr()
    assert "wandb sync runs/synthetic/wandb/offline-run-" in offline_line.out + offline_line.err
    main(["test", "--config", config, *args, "--ckpt_path", fit.trainer.checkpoint_callback.best_model_path])

    fit_dir, test_dir = _runs(tmp_path)
    fit_run, test_run = read_offline_run(fit_dir), read_offline_run(test_dir)
    assert (fit_run.name, fit_run.job_type) == ("synthetic-teacher-tiny_r2plus1d", "fit")
    assert test_run.job_type == "test"
    # The full resolved config, not only the module's hyperparameters.
    assert fit_run.config["config"]["data"]["clip_len"] == 4
    assert fit_run.config["config"]["model"]["init_args"]["backbone"] == "tiny_r2plus1d"
    assert "clip_len: 4" in (fit_dir / "files" / "config.yaml").read_text()

    expected = {"train/loss", "train/top1", "train/top5", "val/loss", "val/top1", "val/top5",
                "val/acc/move_left", "train/acc/stay", "lr-AdamW", "perf/clips_per_s", "perf/data_wait"}
    assert expected <= fit_run.keys
    assert all(v > 0 for v in fit_run.values("perf/clips_per_s"))
    assert all(0 <= v < 1 for v in fit_run.values("perf/data_wait"))

    assert fit_run.values("val/clips/_type") == ["videos"]
    (clips,) = fit_run.values("val/clips/videos")
    assert len(clips) == 4
    for clip in clips:
        assert clip["caption"].startswith("label ") and "| model " in clip["caption"]
        assert (fit_dir / "files" / clip["path"]).stat().st_size > 0  # the mp4 is in the run

    assert {"test/top1", "test/top5", "test/acc/rotate_cw"} <= test_run.keys
    assert test_run.values("test/predictions/_type") == ["table-file"]
    assert test_run.values("test/confusion_matrix_table/_type") == ["table-file"]
    (table_path,) = test_run.values("test/predictions/path")
    table = json.loads((test_dir / "files" / table_path).read_text())
    assert table["columns"] == ["path", "label", "prediction", "probability", "correct"]
    assert len(table["data"]) == 6  # 3 test batches of 2 videos
    assert all(Path(row[0]).is_file() and row[4] == (row[1] == row[2]) for row in table["data"])


def test_run_names_say_dataset_stage_backbone():
    distill = run_name("arid", "dlkdd.models.DistillModule", {"backbone": "r2plus1d_34"})
    assert distill == "arid-distill-r2plus1d_34"
    assert run_name("synthetic", "TeacherModule", {"backbone": "tiny3d", "view": "original"}) == (
        "synthetic-baseline-tiny3d")
    # the same module on the bright corpus (configs/synthetic/pretrain.yaml) is stage 0, not a baseline
    assert run_name("synthetic_bright", "TeacherModule", {"backbone": "tiny3d", "view": "original"}) == (
        "synthetic_bright-pretrain-tiny3d")


def test_key_lookup_reads_env_and_netrc(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_BASE_URL", raising=False)
    netrc = tmp_path / "netrc"
    monkeypatch.setenv("NETRC", str(netrc))
    assert not wandb_key_found()
    netrc.write_text("machine api.wandb.ai\n  login user\n  password 0123456789abcdef\n")
    netrc.chmod(0o600)
    assert wandb_key_found()


def test_logger_false_and_a_csv_logger_still_work(tiny_root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = str(CONFIGS / "synthetic/teacher.yaml")
    data = tiny_data_args(tiny_root)
    off = main(["--config", config, *data, "--trainer.logger=false"], run=False)
    assert off.trainer.logger is None
    csv = main(["--config", config, *data, "--trainer.logger=CSVLogger", "--trainer.logger.save_dir=logs"],
               run=False)
    assert type(csv.trainer.logger).__name__ == "CSVLogger"
    default = main(["--config", config, *data], run=False)
    assert type(default.trainer.logger).__name__ == "WandbLogger"
    assert not _runs(tmp_path)  # building the logger starts no run
