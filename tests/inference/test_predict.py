"""`dlkdd predict` writes the documented file: golden columns for CSV and JSON Lines, broken files as rows,
unlabeled videos (a folder or a list of paths) named with the checkpoint's classes."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from dlkdd.callbacks.prediction_writer import PredictionWriter, csv_columns
from dlkdd.cli import main
from dlkdd.synthetic.dataset import CLASS_NAMES, split_list_path
from tests.conftest import CONFIGS, tiny_data_args

CONFIG = str(CONFIGS / "synthetic/teacher.yaml")
PREDICT = ["--trainer.accelerator=cpu", "--trainer.enable_progress_bar=false"]
LOCAL = [*PREDICT, "--trainer.logger=false"]


@pytest.fixture(scope="module")
def checkpoint(tiny_root, tmp_path_factory) -> Path:
    """A briefly trained teacher: predictions need a real checkpoint, not a good one."""
    folder = tmp_path_factory.mktemp("predict-ckpt")
    fit = main(["fit", "--config", CONFIG, *tiny_data_args(tiny_root), *LOCAL, "--trainer.max_epochs=1",
                "--trainer.limit_train_batches=2", "--trainer.limit_val_batches=1",
                f"--trainer.callbacks.dirpath={folder}"])
    return Path(fit.trainer.checkpoint_callback.best_model_path)


def test_csv_columns_are_the_documented_ones():
    assert csv_columns(3) == ["path", "label", "top1", "prob1", "top2", "prob2", "top3", "prob3", "error"]


def test_an_unknown_output_format_names_the_fix():
    with pytest.raises(ValueError, match=r"--output preds.txt.*\.csv or \.jsonl"):
        PredictionWriter("preds.txt")


@pytest.mark.slow
def test_predict_split_to_csv_with_a_broken_video(tiny_root, checkpoint, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "data"
    shutil.copytree(tiny_root, root)
    (root / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 50)
    test_list = split_list_path(root, "test")
    listed = test_list.read_text().splitlines()
    test_list.write_text("\n".join([*listed, f"{len(listed)}\t0\tbroken.mp4"]) + "\n")

    main(["predict", "--config", CONFIG, *tiny_data_args(root), *PREDICT, "--ckpt_path", str(checkpoint),
          "--output", "out/predictions.csv", "--top_k", "3"])
    assert not list(tmp_path.rglob("wandb"))  # predict's result is its file, not a W&B run

    with open("out/predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["path", "label", "top1", "prob1", "top2", "prob2", "top3", "prob3", "error"]
    in_list_order = [str(root / line.split("\t")[2]) for line in test_list.read_text().splitlines()]
    assert [r["path"] for r in rows] == in_list_order  # every listed video, broken ones included
    good, (broken,) = rows[:-1], rows[-1:]
    for row in good:
        assert row["error"] == "" and row["label"] in CLASS_NAMES
        assert {row["top1"], row["top2"], row["top3"]} <= set(CLASS_NAMES)
        probs = [float(row[f"prob{k}"]) for k in (1, 2, 3)]
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6
    assert broken["path"].endswith("broken.mp4") and broken["error"] and broken["top1"] == ""
    printed = capsys.readouterr().out
    assert f"Wrote {len(rows)} predictions to out/predictions.csv (1 unreadable videos" in printed
    assert f"top-1 on the {len(good)} labeled videos" in printed


@pytest.mark.slow
def test_predict_a_folder_to_jsonl(tiny_root, checkpoint, tmp_path, monkeypatch):
    """Your own videos in class folders (`--data.dataset folder`); JSON Lines with the same fields."""
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "my_videos"
    for split in ("train", "test"):
        for name in CLASS_NAMES:
            (folder / split / name).mkdir(parents=True)
            shutil.copy(next((tiny_root / name).glob(f"*_{split}_*.mp4")), folder / split / name)

    main(["predict", "--config", CONFIG, *tiny_data_args(tiny_root), *PREDICT, "--ckpt_path", str(checkpoint),
          "--data.dataset=folder", f"--data.root={folder}", "--output", "predictions.jsonl", "--top_k", "2"])

    rows = [json.loads(line) for line in Path("predictions.jsonl").read_text().splitlines()]
    assert len(rows) == len(CLASS_NAMES)
    for row in rows:
        assert list(row) == ["path", "label", "classes", "probs", "error"]
        assert Path(row["path"]).parent.name == row["label"] and row["error"] is None
        assert len(row["classes"]) == len(row["probs"]) == 2 and set(row["classes"]) <= set(CLASS_NAMES)


def _unlabeled_folder(tiny_root: Path, folder: Path) -> list[Path]:
    """Real videos at several depths under `folder`, plus one broken file: the sorted list of all."""
    sources = sorted(tiny_root.rglob("*_test_*.mp4"))[:3]
    targets = [folder / "night1.mp4", folder / "cam/a/clip.mp4", folder / "cam/b/clip.mp4"]
    for source, target in zip(sources, targets, strict=True):
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)
    (folder / "cam/broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 50)
    (folder / "notes.txt").write_text("not a video")
    return sorted([*targets, folder / "cam/broken.mp4"])


@pytest.mark.slow
def test_predict_unlabeled_videos_in_a_folder(tiny_root, checkpoint, tmp_path, monkeypatch, capsys):
    """`--data.dataset videos`: every video under the folder, class names from the checkpoint, no label;
    a broken file is a row with its error although it is 25 % of the videos (> max_broken_fraction)."""
    monkeypatch.chdir(tmp_path)
    videos = _unlabeled_folder(tiny_root, tmp_path / "my_night_clips")

    main(["predict", "--config", CONFIG, *tiny_data_args(tiny_root), *PREDICT, "--ckpt_path", str(checkpoint),
          "--data.dataset", "videos", "--data.root", "my_night_clips/", "--data.max_broken_fraction=0.1",
          "--output", "predictions.csv", "--top_k", "2"])

    with open("predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [Path(r["path"]).resolve() for r in rows] == videos  # sorted, recursive, notes.txt left out
    *good, broken = [rows[i] for i in (0, 1, 3, 2)]  # cam/broken.mp4 sorts between cam/b and night1
    assert broken["path"].endswith("broken.mp4") and broken["error"] and broken["top1"] == ""
    for row in good:
        assert row["label"] == "" and row["error"] == ""
        assert {row["top1"], row["top2"]} <= set(CLASS_NAMES)
    assert not list(tmp_path.rglob("class_names.txt"))  # nothing dropped beside the output
    printed = capsys.readouterr().out
    assert "Wrote 4 predictions to predictions.csv (1 unreadable videos" in printed
    assert "labeled videos" not in printed


@pytest.mark.slow
def test_predict_a_list_of_paths_to_jsonl(tiny_root, checkpoint, tmp_path, monkeypatch):
    """A text file of paths, relative to its folder or absolute, predicted in the list's order."""
    monkeypatch.chdir(tmp_path)
    first, second = sorted(tiny_root.rglob("*_test_*.mp4"))[:2]
    (tmp_path / "clips").mkdir()
    shutil.copy(first, tmp_path / "clips/first.mp4")
    (tmp_path / "clips/todo.txt").write_text(f"# tonight\n{second}\n\nfirst.mp4\n")

    main(["predict", "--config", CONFIG, *tiny_data_args(tiny_root), *PREDICT, "--ckpt_path", str(checkpoint),
          "--data.dataset=videos", "--data.root=clips/todo.txt", "--output", "out.jsonl", "--top_k", "1"])

    rows = [json.loads(line) for line in Path("out.jsonl").read_text().splitlines()]
    assert [Path(r["path"]).resolve() for r in rows] == [second, (tmp_path / "clips/first.mp4").resolve()]
    for row in rows:
        assert row["label"] is None and row["error"] is None
        assert row["classes"][0] in CLASS_NAMES and 0 < row["probs"][0] <= 1
