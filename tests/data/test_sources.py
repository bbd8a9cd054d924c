"""Every dataset source reads its real on-disk layout: ARID v1.0/v1.5 and Dark-48 split lists, class
folders, `path label` lists; missing roots and missing files fail before any step, naming the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from dlkdd.data import DarkVideoDataModule
from dlkdd.data.sources import ARID_CLASSES, NO_LABEL, SourceOptions, make_source
from dlkdd.video import write_video
from tests.data.test_validation import counting_frames


def _touch(root: Path, relpath: str) -> Path:
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


@pytest.mark.parametrize(
    ("dataset", "prefix", "folder"), [("arid", "ARID", ""), ("arid15", "ARID1.5", "list_cvt")]
)
def test_arid_lists_train_and_test_only(tmp_path, dataset, prefix, folder):
    lists = tmp_path / folder
    lists.mkdir(exist_ok=True)
    (lists / f"{prefix}_split2_train.txt").write_text("0\t0\tDrink/Drink_1_1.mp4\n1\t10\tWave/Wave_2_3.mp4\n")
    (lists / f"{prefix}_split2_test.txt").write_text("0\t5\tRun/Run_1_2.mp4\n")
    (lists / f"{prefix}_split2_other.txt").write_text("not a list this loader reads\n")
    source = make_source(dataset, tmp_path, 2)
    assert source.class_names == ARID_CLASSES
    assert [(i.path, i.label) for i in source.items("train")] == [
        (tmp_path / "Drink/Drink_1_1.mp4", 0), (tmp_path / "Wave/Wave_2_3.mp4", 10)]
    assert source.items("val") == source.items("test") == [source.items("test")[0]]
    with pytest.raises(FileNotFoundError, match=f"{prefix}_split1_train.txt"):
        make_source(dataset, tmp_path, 1)
    with pytest.raises(ValueError, match="splits 1, 2 and 3"):
        make_source(dataset, tmp_path, 4)


def test_dark48_lists_name_classes_by_folder(tmp_path):
    (tmp_path / "splits").mkdir()
    (tmp_path / "splits/split3_train.txt").write_text("drink/a.mp4 0\nyawn/b.mp4 2\n")
    (tmp_path / "splits/split3_test.txt").write_text("laugh/c.mp4 1\n")
    source = make_source("dark48", tmp_path, 3)
    assert source.class_names == ("drink", "laugh", "yawn")
    assert [(i.path.name, i.label) for i in source.items("train")] == [("a.mp4", 0), ("b.mp4", 2)]
    assert [i.label for i in source.items("val")] == [1]


def test_list_source_with_class_names_in_a_csv(tmp_path):
    (tmp_path / "train.csv").write_text("path,label\nclips/a.mp4,walk\nclips/b b.mp4,run\n")
    (tmp_path / "test.csv").write_text("path,label\nclips/c.mp4,walk\n")
    source = make_source("list", tmp_path, 1)
    assert source.class_names == ("run", "walk")
    assert [(i.path, i.label) for i in source.items("train")] == [
        (tmp_path / "clips/a.mp4", 1), (tmp_path / "clips/b b.mp4", 0)]
    assert source.items("val") == source.items("test")


def test_list_source_with_indices_lists_option_and_classes_file(tmp_path):
    (tmp_path / "meta").mkdir()
    (tmp_path / "meta/mine_train.txt").write_text("x/a.mp4 0\nx/b.mp4 2\n")
    (tmp_path / "meta/mine_val.txt").write_text("x/c.mp4 1\n")
    (tmp_path / "meta/mine_test.txt").write_text("x/d.mp4 2\n")
    (tmp_path / "meta/classes.txt").write_text("sit\nstand\nwave\n")
    lists = {"train": "meta/mine_train.txt", "val": "meta/mine_val.txt", "test": "meta/mine_test.txt"}
    source = make_source("list", tmp_path, 1, SourceOptions(lists=lists))
    assert source.class_names == ("sit", "stand", "wave")
    assert [i.label for i in source.items("val")] == [1] and [i.label for i in source.items("test")] == [2]
    with pytest.raises(ValueError, match="--data.lists keys"):
        make_source("list", tmp_path, 1, SourceOptions(lists={"training": "meta/mine_train.txt"}))


def test_folder_source_sorted_classes_stable_holdout(tmp_path):
    for name, count in [("wave", 5), ("drink", 4), ("jump", 1)]:
        for k in range(count):
            _touch(tmp_path, f"{name}/{'sub/' if k == 0 else ''}{name}_{k}.avi")
    _touch(tmp_path, "drink/notes.txt")
    source = make_source("folder", tmp_path, 1, SourceOptions(holdout_fraction=0.25))
    assert source.class_names == ("drink", "jump", "wave")
    train, test = source.items("train"), source.items("test")
    assert len(train) + len(test) == 10 and source.items("val") == test
    assert not {i.path for i in train} & {i.path for i in test}
    held = {name: sum(1 for i in test if i.label == k) for k, name in enumerate(source.class_names)}
    assert held == {"drink": 1, "jump": 0, "wave": 1}  # every class keeps training videos
    _touch(tmp_path, "wave/wave_new.avi")
    again = make_source("folder", tmp_path, 1, SourceOptions(holdout_fraction=0.25))
    assert {i.path for i in test if i.label == 0} == {i.path for i in again.items("test") if i.label == 0}


def test_folder_source_with_split_subfolders(tmp_path):
    _touch(tmp_path, "train/run/a.mp4")
    _touch(tmp_path, "train/sit/b.mp4")
    _touch(tmp_path, "test/sit/c.mp4")
    source = make_source("folder", tmp_path, 1)
    assert source.class_names == ("run", "sit")
    assert [(i.path.name, i.label) for i in source.items("val")] == [("c.mp4", 1)]


@pytest.mark.parametrize("dataset", ["arid", "dark48", "folder", "list"])
def test_missing_or_empty_root_fails_at_setup_naming_the_options(tmp_path, dataset):
    for root in [tmp_path / "nowhere", tmp_path]:
        data = DarkVideoDataModule(dataset=dataset, root=str(root), num_workers=0)  # configs still parse
        with pytest.raises(FileNotFoundError, match=rf"--data.root, for --data.dataset={dataset}"):
            data.setup("fit")


def test_missing_files_are_reported_in_one_error(tmp_path):
    (tmp_path / "walk").mkdir()
    write_video(tmp_path / "walk/present.mp4", counting_frames(4), fps=10)
    lines = ["walk/present.mp4 0"] + [f"walk/gone_{k}.mp4 0" for k in range(7)]
    (tmp_path / "train.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / "test.txt").write_text("walk/present.mp4 0\n")
    data = DarkVideoDataModule(dataset="list", root=str(tmp_path), num_workers=0)
    with pytest.raises(FileNotFoundError) as error:
        data.setup("fit")
    message = str(error.value)
    assert "7 of the 8 videos of the train split are missing" in message and str(tmp_path) in message
    assert "gone_4.mp4" in message and "gone_5.mp4" not in message and "and 2 more" in message


def test_videos_source_is_every_video_under_a_folder_unlabeled(tmp_path):
    for relpath in ["b.mp4", "a/z.MOV", "a/deeper/c.webm", "notes.txt", "a/clip.avi"]:
        _touch(tmp_path, relpath)
    source = make_source("videos", tmp_path, 1)
    assert source.class_names == () and not source.labeled
    expected = [tmp_path / p for p in ["a/clip.avi", "a/deeper/c.webm", "a/z.MOV", "b.mp4"]]
    for stage in ("train", "val", "test"):
        assert [(i.path, i.label) for i in source.items(stage)] == [(p, NO_LABEL) for p in expected]


def test_videos_source_reads_a_list_of_relative_or_absolute_paths(tmp_path):
    elsewhere = _touch(tmp_path, "elsewhere/x.mp4")
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips/todo.txt").write_text(f"# tonight's clips\nnight/2.mp4\n\n{elsewhere}\n")
    source = make_source("videos", tmp_path / "clips/todo.txt", 1)
    assert [i.path for i in source.items("test")] == [tmp_path / "clips/night/2.mp4", elsewhere]
    (tmp_path / "empty.txt").write_text("# nothing yet\n")
    with pytest.raises(ValueError, match="empty.txt .*lists no videos"):
        make_source("videos", tmp_path / "empty.txt", 1)
    with pytest.raises(FileNotFoundError, match="No videos .* under"):
        make_source("videos", tmp_path / "clips", 1)


def test_unlabeled_videos_take_class_names_and_refuse_to_train(tmp_path):
    _touch(tmp_path, "clip.mp4")
    with pytest.raises(ValueError, match=r"no labels, so no class names.*--ckpt_path.*--data.class_names"):
        DarkVideoDataModule(dataset="videos", root=str(tmp_path), num_workers=0)
    data = DarkVideoDataModule(dataset="videos", root=str(tmp_path), class_names=["sit", "run"])
    assert (data.num_classes, data.class_names) == (2, ["sit", "run"])
    with pytest.raises(ValueError, match="no labels to train on: use it with `dlkdd predict`"):
        data.setup("fit")
    labeled = DarkVideoDataModule(dataset="synthetic", root=str(tmp_path / "s"), class_names=["x"])
    assert labeled.num_classes == 10  # a dataset's own classes win
