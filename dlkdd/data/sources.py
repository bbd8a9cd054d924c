"""Dataset sources: where a dataset's videos and split lists live and what its classes are called.

A source turns (dataset, root, split) into class names and lists of (path, label) per stage split.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dlkdd._registry import register_into, unknown_name_error
from dlkdd.data import synthetic

ARID_CLASSES = ("Drink", "Jump", "Pick", "Pour", "Push", "Run", "Sit", "Stand", "Turn", "Walk", "Wave")


@dataclass(frozen=True)
class VideoItem:
    path: Path
    label: int


@dataclass(frozen=True)
class Source:
    class_names: tuple[str, ...]
    # Split lists per stage: "train", "val", "test". Datasets without a validation list (ARID) use the
    # test list for validation, as the dark-video papers report.
    list_files: dict[str, Path]
    root: Path

    def items(self, stage_split: str) -> list[VideoItem]:
        return read_arid_list(self.list_files[stage_split], self.root, len(self.class_names))


_SOURCES: dict[str, Callable[[Path, int], Source]] = {}


def register_source(name: str):
    return register_into(_SOURCES, "dataset", name)


def list_datasets() -> list[str]:
    return sorted(_SOURCES)


def make_source(dataset: str, root: str | Path, split: int) -> Source:
    if dataset not in _SOURCES:
        raise unknown_name_error("dataset", dataset, _SOURCES, "--data.dataset")
    return _SOURCES[dataset](Path(root), split)


def read_arid_list(list_file: Path, root: Path, num_classes: int) -> list[VideoItem]:
    """ARID split list: `idx<TAB>label<TAB>Class/video.ext` per line, paths relative to the root."""
    if not list_file.is_file():
        raise FileNotFoundError(
            f"Split list {list_file} not found. Check --data.root (now {root}) and --data.split."
        )
    items = []
    for number, line in enumerate(list_file.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 3 or not fields[1].strip().isdigit():
            raise ValueError(
                f"{list_file}:{number}: expected 'idx<TAB>label<TAB>relative/path', got {line!r}"
            )
        label = int(fields[1])
        if not 0 <= label < num_classes:
            raise ValueError(f"{list_file}:{number}: label {label} outside 0..{num_classes - 1}")
        items.append(VideoItem(root / fields[2].strip(), label))
    return items


@register_source("synthetic")
def synthetic_source(root: Path, split: int) -> Source:
    if split != 1:
        raise ValueError(f"The synthetic dataset has one split; got --data.split {split}.")
    stages = {stage: synthetic.split_list_path(root, stage) for stage in ("train", "val", "test")}
    return Source(tuple(synthetic.CLASS_NAMES), stages, root)


def _arid_source(root: Path, split: int, prefix: str) -> Source:
    if split not in (1, 2, 3):
        raise ValueError(f"ARID has splits 1, 2 and 3; got --data.split {split}.")
    # The lists ship beside the class folders or in a lists folder; look in both.
    folders = [root, root / "splits", root / "list_cvt", root / "lists"]

    def find(stage: str) -> Path:
        name = f"{prefix}_split{split}_{stage}.txt"
        return next((f / name for f in folders if (f / name).is_file()), root / name)

    return Source(ARID_CLASSES, {"train": find("train"), "val": find("test"), "test": find("test")}, root)


@register_source("arid")
def arid_source(root: Path, split: int) -> Source:
    """ARID v1.0: 3,784 clips, 11 classes, lists ARID_split{1,2,3}_{train,test}.txt."""
    return _arid_source(root, split, "ARID")


@register_source("arid15")
def arid15_source(root: Path, split: int) -> Source:
    """ARID v1.5: the same 11 classes and list format, ~5,572 clips."""
    return _arid_source(root, split, "ARID1.5")
