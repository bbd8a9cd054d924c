"""Dataset sources: where a dataset's videos and split lists live and what its classes are called.

A source turns (dataset, root, split) into class names and, per stage split ("train", "val", "test"),
a list of (path, label). Datasets without a validation list use the test list for validation, as the
dark-video papers report. The `videos` source has no labels (label NO_LABEL) and no class names: it is
what `dlkdd predict` runs on, the class names coming from the checkpoint.
"""

from __future__ import annotations

import csv
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dlkdd._registry import register_into, unknown_name_error
from dlkdd.synthetic import dataset as synthetic
from dlkdd.video import VIDEO_SUFFIXES, list_videos

ARID_CLASSES = ("Drink", "Jump", "Pick", "Pour", "Push", "Run", "Sit", "Stand", "Turn", "Walk", "Wave")
STAGE_SPLITS = ("train", "val", "test")
# The reserved class name for "no action" (empty scenes, the night's usual false alarms): a folder or list
# class of this name (any case) is trained like any class, kept out of top-1/top-5 (dlkdd.models.metrics:
# figures stay those of the actions, comparable with datasets that have none) and is the no-event state
# of `dlkdd watch`. One name only: `none` stays an ordinary name.
BACKGROUND = synthetic.BACKGROUND
NO_LABEL = -1
# Class names until the data is there (their count sizes the model at construction); never trained.
_PLACEHOLDER_CLASSES = {
    "arid": ARID_CLASSES,
    "arid15": ARID_CLASSES,
    "dark48": tuple(f"class_{k}" for k in range(48)),
    "videos": (),
}
# Datasets the generator writes into an empty root on first use, and which of its corpora each is.
GENERATED_CORPORA = {"synthetic": "dark", "synthetic_bright": "bright"}
# Sources whose root may be a file (a list of videos) rather than a folder.
FILE_ROOTS = frozenset({"videos"})
# Folders beside the class folders where datasets ship their split lists.
LIST_FOLDERS = ("", "splits", "list_cvt", "lists", "list", "annotations")


def background_index(class_names: list[str] | tuple[str, ...] | None) -> int | None:
    """The index of the reserved background class among `class_names`, None when there is none."""
    found = [k for k, name in enumerate(class_names or ()) if name.lower() == BACKGROUND]
    if len(found) > 1:
        raise ValueError(f"classes {', '.join(class_names[k] for k in found)}: more than one is the "
                         f"reserved no-action class {BACKGROUND!r}; merge them into one folder or list "
                         "label.")
    return found[0] if found else None


@dataclass(frozen=True)
class VideoItem:
    path: Path
    label: int


@dataclass(frozen=True)
class Source:
    class_names: tuple[str, ...]
    root: Path
    read_split: Callable[[str], list[VideoItem]]  # "train" / "val" / "test" -> items

    def items(self, stage_split: str) -> list[VideoItem]:
        return self.read_split(stage_split)

    @property
    def labeled(self) -> bool:
        return bool(self.class_names)


@dataclass(frozen=True)
class SourceOptions:
    """Options only some sources use (the rest ignore them)."""

    lists: dict[str, str] | None = None  # dataset=list: split list per stage split
    holdout_fraction: float = 0.2  # dataset=folder without train/test subfolders
    background: bool = False  # dataset=synthetic: generated with background clips (background_ratio)


_SOURCES: dict[str, Callable[[Path, int, SourceOptions], Source]] = {}


def register_source(name: str):
    return register_into(_SOURCES, "dataset", name)


def list_datasets() -> list[str]:
    return sorted(_SOURCES)


def make_source(dataset: str, root: str | Path, split: int, options: SourceOptions | None = None) -> Source:
    """The source of `dataset` at `root`. A missing or empty root (except for synthetic, which is
    generated there) gives a source whose splits raise the error: configs still parse and instantiate
    without the data, and the run stops at setup, before its first step."""
    if dataset not in _SOURCES:
        raise unknown_name_error("dataset", dataset, _SOURCES, "--data.dataset")
    root = Path(root)
    generated_or_file = dataset in GENERATED_CORPORA or (dataset in FILE_ROOTS and root.is_file())
    problem = None if generated_or_file else root_problem(dataset, root)
    if problem is not None:
        return Source(_PLACEHOLDER_CLASSES.get(dataset, ("class_0", "class_1")), root, _raiser(problem))
    return _SOURCES[dataset](root, split, options or SourceOptions())


def root_problem(dataset: str, root: Path) -> FileNotFoundError | None:
    if root.is_dir() and any(root.iterdir()):
        return None
    state = "is empty" if root.is_dir() else ("is not a folder" if root.exists() else "does not exist")
    return FileNotFoundError(
        f"The data root {root} {state} (--data.root, for --data.dataset={dataset}). Point --data.root at "
        "the folder that holds the videos (and split lists), e.g. --data.root /data/ARID, or use "
        "--data.dataset=synthetic to generate a small dataset there instead."
    )


def _raiser(error: Exception) -> Callable[[str], list[VideoItem]]:
    def read(stage: str) -> list[VideoItem]:
        raise error

    return read


def _check_label(label: int, num_classes: int, where: str) -> int:
    if not 0 <= label < num_classes:
        raise ValueError(f"{where}: label {label} outside 0..{num_classes - 1}")
    return label


def _require_list(list_file: Path, root: Path) -> None:
    if not list_file.is_file():
        raise FileNotFoundError(
            f"Split list {list_file} not found. Check --data.root (now {root}) and --data.split."
        )


def read_arid_list(list_file: Path, root: Path, num_classes: int) -> list[VideoItem]:
    """ARID split list: `idx<TAB>label<TAB>Class/video.ext` per line, paths relative to the root."""
    _require_list(list_file, root)
    items = []
    for number, line in enumerate(list_file.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 3 or not fields[1].strip().isdigit():
            raise ValueError(
                f"{list_file}:{number}: expected 'idx<TAB>label<TAB>relative/path', got {line!r}"
            )
        label = _check_label(int(fields[1]), num_classes, f"{list_file}:{number}")
        items.append(VideoItem(root / fields[2].strip(), label))
    return items


def read_path_label_list(list_file: Path, root: Path) -> list[tuple[str, str]]:
    """`path label` lines (space, tab or comma separated; a CSV header line is skipped) -> raw pairs.

    The label is the last field, so paths may contain spaces when the separator is a tab or comma.
    """
    _require_list(list_file, root)
    text = list_file.read_text()
    rows = list(csv.reader(text.splitlines())) if list_file.suffix == ".csv" else [
        line.rsplit(maxsplit=1) for line in text.splitlines()
    ]
    pairs = []
    for number, fields in enumerate(rows, start=1):
        fields = [f.strip() for f in fields if f.strip()]
        if not fields:
            continue
        if len(fields) != 2:
            raise ValueError(f"{list_file}:{number}: expected 'relative/path label', got {fields!r}")
        if number == 1 and fields[1].lower() in {"label", "class", "class_name"}:
            continue  # CSV header
        pairs.append((fields[0], fields[1]))
    return pairs


def _find_list(root: Path, candidates: list[str], what: str) -> Path:
    for folder in LIST_FOLDERS:
        for name in candidates:
            if (root / folder / name).is_file():
                return root / folder / name
    searched = ", ".join(str(root / f) for f in LIST_FOLDERS)
    raise FileNotFoundError(
        f"No {what} list ({' or '.join(candidates)}) in {searched}. Check --data.root (now {root}) "
        "and --data.split."
    )


def _generated_source(root: Path, split: int, class_names: tuple[str, ...]) -> Source:
    if split != 1:
        raise ValueError(f"The synthetic dataset has one split; got --data.split {split}.")

    def read(stage: str) -> list[VideoItem]:
        return read_arid_list(synthetic.split_list_path(root, stage), root, len(class_names))

    return Source(tuple(class_names), root, read)


@register_source("synthetic")
def synthetic_source(root: Path, split: int, options: SourceOptions) -> Source:
    """The generated dark target set (the CPU quickstart's data)."""
    return _generated_source(root, split, synthetic.dark_class_names(options.background))


@register_source("synthetic_bright")
def synthetic_bright_source(root: Path, split: int, options: SourceOptions) -> Source:
    """The generated bright pretraining corpus: other actions, well lit (configs/synthetic/pretrain.yaml)."""
    return _generated_source(root, split, synthetic.BRIGHT_CLASS_NAMES)


def _check_split(dataset: str, split: int) -> None:
    if split not in (1, 2, 3):
        raise ValueError(f"{dataset} has splits 1, 2 and 3; got --data.split {split}.")


def _arid_source(root: Path, split: int, prefix: str) -> Source:
    _check_split(prefix, split)
    # Only the train/test lists: ARID also ships "other" lists, which no protocol uses.
    lists = {s: _find_list(root, [f"{prefix}_split{split}_{s}.txt"], s) for s in ("train", "test")}
    lists["val"] = lists["test"]
    return Source(ARID_CLASSES, root, lambda stage: read_arid_list(lists[stage], root, len(ARID_CLASSES)))


@register_source("arid")
def arid_source(root: Path, split: int, options: SourceOptions) -> Source:
    """ARID v1.0: 3,784 clips, 11 classes, lists ARID_split{1,2,3}_{train,test}.txt."""
    return _arid_source(root, split, "ARID")


@register_source("arid15")
def arid15_source(root: Path, split: int, options: SourceOptions) -> Source:
    """ARID v1.5: the same 11 classes and list format, ~5,572 clips."""
    return _arid_source(root, split, "ARID1.5")


def _integer_labels(pairs: list[tuple[str, str]], list_file: Path) -> list[int]:
    bad = next((p for p in pairs if not p[1].isdigit()), None)
    if bad:
        raise ValueError(f"{list_file}: label {bad[1]!r} of {bad[0]} is not a class index")
    return [int(label) for _, label in pairs]


@register_source("dark48")
def dark48_source(root: Path, split: int, options: SourceOptions) -> Source:
    """Dark-48: 48 classes, splits 1-3, lists of `class/vid.mp4 <label>` lines. Class names are the
    folder part of the listed paths."""
    _check_split("dark48", split)
    lists = {
        stage: _find_list(
            root,
            [f"dark48_split{split}_{stage}.txt", f"Dark48_split{split}_{stage}.txt",
             f"split{split}_{stage}.txt", f"{stage}_split{split}.txt", f"{stage}list0{split}.txt"],
            stage,
        )
        for stage in ("train", "test")
    }
    lists["val"] = lists["test"]
    pairs = {stage: read_path_label_list(lists[stage], root) for stage in ("train", "test")}
    names: dict[int, str] = {}
    for stage, rows in pairs.items():
        for (path, _), label in zip(rows, _integer_labels(rows, lists[stage]), strict=True):
            names.setdefault(label, Path(path).parts[0] if len(Path(path).parts) > 1 else f"class_{label}")
    num_classes = max(names) + 1 if names else 0
    class_names = tuple(names.get(k, f"class_{k}") for k in range(num_classes))

    def read(stage: str) -> list[VideoItem]:
        rows = pairs["test" if stage == "val" else stage]
        labels = _integer_labels(rows, lists[stage])
        return [VideoItem(root / path, _check_label(label, num_classes, str(lists[stage])))
                for (path, _), label in zip(rows, labels, strict=True)]

    return Source(class_names, root, read)


@register_source("list")
def list_source(root: Path, split: int, options: SourceOptions) -> Source:
    """Your own split lists of `path label` lines (paths relative to --data.root), given by --data.lists
    ({train: ..., val: ..., test: ...}; default root/{train,val,test}.{txt,csv}; no val: the test list).
    Labels are class indices or class names; with names, classes are the sorted set of names; with
    indices, names come from a classes.txt (one per line) beside the lists when there is one."""
    given = options.lists or {}
    unknown = set(given) - set(STAGE_SPLITS)
    if unknown:
        raise ValueError(f"--data.lists keys must be among {STAGE_SPLITS}, got {sorted(unknown)}")
    lists: dict[str, Path] = {}
    for stage in ("train", "test", "val"):
        if stage in given:
            path = Path(given[stage])
            lists[stage] = path if path.is_absolute() else root / path
        elif stage == "val":
            lists["val"] = next((root / f"val{s}" for s in (".txt", ".csv") if (root / f"val{s}").is_file()),
                                lists["test"])
        else:
            what = f"{stage} (or --data.lists.{stage})"
            lists[stage] = _find_list(root, [f"{stage}.txt", f"{stage}.csv"], what)
    pairs = {stage: read_path_label_list(path, root) for stage, path in lists.items()}
    raw_labels = [label for rows in pairs.values() for _, label in rows]
    if all(label.isdigit() for label in raw_labels):
        num_classes = max(map(int, raw_labels), default=-1) + 1
        names_file = lists["train"].parent / "classes.txt"
        names = names_file.read_text().split() if names_file.is_file() else []
        if names and len(names) < num_classes:
            raise ValueError(f"{names_file} names {len(names)} classes but the lists use {num_classes}")
        class_names = tuple(names) if names else tuple(f"class_{k}" for k in range(num_classes))
        index = {str(k): k for k in range(num_classes)}
    else:
        class_names = tuple(sorted(set(raw_labels)))
        index = {name: k for k, name in enumerate(class_names)}
    return Source(
        class_names, root, lambda stage: [VideoItem(root / p, index[label]) for p, label in pairs[stage]]
    )


def _holdout(videos: list[Path], fraction: float) -> set[Path]:
    """A stable per-class hold-out: the videos with the smallest name hashes, so adding videos later
    moves few of the old ones between train and test."""
    count = round(fraction * len(videos)) if len(videos) > 1 else 0
    if fraction > 0 and len(videos) > 1:
        count = min(max(count, 1), len(videos) - 1)
    return set(sorted(videos, key=lambda p: zlib.crc32(p.name.encode()))[:count])


@register_source("folder")
def folder_source(root: Path, split: int, options: SourceOptions) -> Source:
    """Class folders: <root>/<class_name>/<video>, classes sorted by name. With <root>/train/ and
    <root>/test/ (and optionally val/) holding class folders, those are the splits; otherwise a stable
    `holdout_fraction` of each class is the test (= validation) split."""
    split_folders = {stage: root / stage for stage in STAGE_SPLITS if (root / stage).is_dir()}
    by_stage: dict[str, dict[str, list[Path]]] = {}
    if "train" in split_folders:
        if "test" not in split_folders and "val" not in split_folders:
            raise FileNotFoundError(f"{root}/train/ exists but neither {root}/test/ nor {root}/val/ does")
        for stage in STAGE_SPLITS:
            folder = split_folders.get(stage) or split_folders.get("test" if stage == "val" else "val")
            by_stage[stage] = {c.name: list_videos(c) for c in sorted(folder.iterdir()) if c.is_dir()}
        class_names = tuple(sorted({name for classes in by_stage.values() for name in classes}))
    else:
        folders = [c for c in sorted(root.iterdir()) if c.is_dir() and not c.name.startswith(".")]
        classes = {c.name: videos for c in folders if (videos := list_videos(c))}
        if not classes:
            raise FileNotFoundError(
                f"No class folders with videos ({', '.join(sorted(VIDEO_SUFFIXES))}) in {root} "
                "(--data.root, --data.dataset=folder): expected <root>/<class_name>/<video>."
            )
        class_names = tuple(sorted(classes))
        held = {name: _holdout(videos, options.holdout_fraction) for name, videos in classes.items()}
        by_stage["train"] = {n: [v for v in vs if v not in held[n]] for n, vs in classes.items()}
        by_stage["test"] = by_stage["val"] = {n: [v for v in vs if v in held[n]] for n, vs in classes.items()}
    index = {name: k for k, name in enumerate(class_names)}
    return Source(
        class_names,
        root,
        lambda stage: [VideoItem(v, index[name]) for name, videos in by_stage[stage].items() for v in videos],
    )


def read_video_list(list_file: Path) -> list[Path]:
    """One video path per line (blank lines and `#` comments skipped), relative to the list's folder
    or absolute."""
    lines = (line.strip() for line in list_file.read_text().splitlines())
    return [list_file.parent / line for line in lines if line and not line.startswith("#")]


@register_source("videos")
def videos_source(root: Path, split: int, options: SourceOptions) -> Source:
    """Unlabeled videos to predict on: every video file under a folder (recursively, sorted), or the
    paths listed in a text file. Every split is the same videos; labels are NO_LABEL."""
    if root.is_file():
        paths = read_video_list(root)
        if not paths:
            raise ValueError(f"{root} (--data.root, --data.dataset=videos) lists no videos: "
                             "write one path per line, relative to the list's folder or absolute.")
    else:
        paths = list_videos(root)
        if not paths:
            raise FileNotFoundError(
                f"No videos ({', '.join(sorted(VIDEO_SUFFIXES))}) under {root} (--data.root, "
                "--data.dataset=videos): point --data.root at a folder of videos or a text file of paths."
            )
    items = [VideoItem(path, NO_LABEL) for path in paths]
    return Source((), root, lambda stage: list(items))
