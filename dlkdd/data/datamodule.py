"""DarkVideoDataModule: streams uint8 clips from the workers, builds the views on the device."""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_info
from torch.utils.data import DataLoader

from dlkdd.data.batch import VIEWS, Batch, LoadedBatch
from dlkdd.data.broken import BrokenVideoLog
from dlkdd.data.clip_spec import ClipSpec
from dlkdd.data.dataset import VideoClipDataset, collate_clips
from dlkdd.data.manifest import Manifest, default_manifest_path
from dlkdd.data.samplers import ordered_loader
from dlkdd.data.sources import GENERATED_CORPORA, Source, SourceOptions, make_source
from dlkdd.data.store import ClipStore, store_folder
from dlkdd.data.validation import CheckedSplit, check_split
from dlkdd.data.views import EVAL_CROPS, ViewBuilder
from dlkdd.enhance import create_enhancer
from dlkdd.synthetic.dataset import SyntheticConfig, generate_dataset, is_generated


class DarkVideoDataModule(L.LightningDataModule):
    """Dark video clips with paired `original` (dark) and `enhanced` views.

    Args:
        dataset: source of videos and split lists: arid (v1.0), arid15 (v1.5), dark48, folder
            (<root>/<class_name>/<video>), list (your own `path label` lists), synthetic (generated dark
            video), synthetic_bright (the generated bright pretraining corpus), or videos
            (unlabeled videos to predict on: a folder, searched recursively, or a text file of paths).
        root: dataset folder (dataset=videos: also a text file of paths). For `synthetic`, an empty or
            missing folder is filled by prepare_data.
        split: which official split (1-3 for ARID and Dark-48).
        lists: dataset=list only: {train: file, val: file, test: file} of `path label` lines (paths
            relative to root); default root/{train,val,test}.{txt,csv}, validation = test without val.
        holdout_fraction: dataset=folder without train/ and test/ subfolders: the fraction of each
            class held out (stably, by file name) as the test and validation split.
        clip_len: frames per clip.
        frame_stride: step between sampled frames (a clip spans (clip_len - 1) * frame_stride + 1 frames).
        frame_size: (height, width) frames are decoded to (aspect kept, centre cropped), before crops.
        crop_size: square crop fed to the network (train: random resized crop; eval: fixed crops).
        min_scale: smallest crop area fraction of RandomResizedCrop.
        hflip: random horizontal flips; keep False when left/right is part of the label.
        augment: random resized crop (and hflip) of training clips. False: they take the centre crop,
            so a clip (video, start frame) always makes the same views, which the distillation's
            teacher-target cache needs (--model.init_args.cache_teacher_targets).
        num_clips: clips per video at validation/test/predict (softmax averaged per video).
        num_crops: spatial crops per clip at validation/test/predict: 1 centre, 3 along the long side
            (MMAction2's 10x3 = num_clips 10, num_crops 3), 5 corners + centre, 10 = those 5 and
            their flips (DarkLight's 1x10 = num_clips 1, num_crops 10).
        enhancer: name of the enhancer that makes the `enhanced` view (see dlkdd.enhance).
        enhancer_options: keyword arguments of the enhancer, e.g. {gamma: 2.0} for gic.
        batch_size: clips per training batch (per device).
        eval_batch_size: videos per evaluation batch (each brings num_clips * num_crops views).
        num_workers: DataLoader worker processes that decode.
        predict_split: the split `dlkdd predict` runs on.
        synthetic: options of the generated dataset (dataset=synthetic, synthetic_bright): its size, seed
            and, for the dark set, the light level (exposure, read_noise).
        manifest: JSON cache of video metadata; default root/.dlkdd_manifest.json, or the user cache
            (~/.cache/dlkdd/manifests) when root is read-only.
        max_broken_fraction: stop with an error when more than this fraction of a split is unreadable
            (not at predict, where every broken video is a row with its error).
        decode_time_limit: seconds one video may take to decode before it is skipped as broken.
        clip_store: decode every video once at frame_size into a store of uint8 frames and read the
            clips from it (the same clips, many times faster to load): true puts it beside the data
            (root/.dlkdd_clip_store, or ~/.cache/dlkdd/clip_store when root is read-only), a path puts
            it there. About 2 MB per second of 30 fps video at 170x128; reused across runs and stages.
        class_names: the classes of a dataset without its own (dataset=videos); `dlkdd predict` fills it
            from the checkpoint.
    """

    def __init__(
        self,
        dataset: str = "synthetic",
        root: str = "data/synthetic",
        split: int = 1,
        clip_len: int = 8,
        frame_stride: int = 2,
        frame_size: tuple[int, int] = (64, 85),
        crop_size: int = 56,
        min_scale: float = 0.4,
        hflip: bool = True,
        augment: bool = True,
        num_clips: int = 2,
        num_crops: int = 1,
        enhancer: str = "gic",
        enhancer_options: dict | None = None,
        batch_size: int = 16,
        eval_batch_size: int | None = None,
        num_workers: int = 2,
        predict_split: str = "test",
        synthetic: SyntheticConfig | None = None,
        lists: dict[str, str] | None = None,
        holdout_fraction: float = 0.2,
        manifest: str | None = None,
        max_broken_fraction: float = 0.1,
        decode_time_limit: float = 60.0,
        clip_store: bool | str = False,
        class_names: list[str] | None = None,
    ) -> None:
        super().__init__()
        # Plain types only: checkpoints must load with weights_only=True. The class names are the model's
        # hyperparameter (loggers merge both modules' and refuse a key with two values).
        self.save_hyperparameters(ignore=["synthetic", "class_names"])
        self.synthetic_config = synthetic or SyntheticConfig()
        self.hparams["synthetic"] = asdict(self.synthetic_config)
        if num_crops not in EVAL_CROPS:
            raise ValueError(f"--data.num_crops must be one of {EVAL_CROPS}, got {num_crops}")
        self.source: Source = make_source(dataset, root, split, SourceOptions(
            lists, holdout_fraction, background=self.synthetic_config.background_ratio > 0))
        self.class_names: list[str] = list(self.source.class_names or class_names or [])
        if not self.class_names:
            raise ValueError(
                f"--data.dataset={dataset} has no labels, so no class names: `dlkdd predict --ckpt_path "
                "FILE` takes them from the checkpoint; elsewhere pass --data.class_names '[name, ...]'."
            )
        self.num_classes = len(self.class_names)
        self.views = ViewBuilder(
            create_enhancer(enhancer, **(enhancer_options or {})), crop_size, min_scale, hflip, num_crops,
            augment,
        )
        self.broken = BrokenVideoLog(max_broken_fraction)
        self.checked: dict[str, CheckedSplit] = {}
        self.stored: dict[str, list[Path | None]] = {}  # split -> clip store entries (None: from the file)

    def prepare_data(self) -> None:
        corpus = GENERATED_CORPORA.get(self.hparams.dataset)
        if corpus and not is_generated(self.hparams.root, self.synthetic_config, corpus):
            rank_zero_info(f"Generating the synthetic {corpus}-video dataset in {self.hparams.root} ...")
            generate_dataset(self.hparams.root, self.synthetic_config, progress=True, corpus=corpus)
        # Probe the videos once per node (prepare_data runs on one process of each), so under DDP the
        # ranks' setup() reads a finished manifest instead of all probing every file at once.
        if self.trainer is not None:
            stage = self.trainer.state.fn.value
            self._limit_broken(stage)
            for split in self._splits(stage):
                self._check(split)
                self._stored(split)  # the clip store, built once per node (under DDP, before setup)

    def _limit_broken(self, stage: str) -> None:
        # Predict writes every video, a broken one as a row with its error: nothing there to stop for.
        self.broken.max_fraction = math.inf if stage == "predict" else self.hparams.max_broken_fraction

    def _splits(self, stage: str) -> list[str]:
        return {"fit": ["train", "val"], "validate": ["val"], "test": ["test"]}.get(
            stage, [self.hparams.predict_split]
        )

    def setup(self, stage: str) -> None:
        """Before the first step: check the splits this stage reads (missing files, unreadable files,
        the broken fraction); the model's BrokenVideoMonitor logs the broken videos per epoch."""
        if stage == "fit" and not self.source.labeled:
            raise ValueError(
                f"--data.dataset={self.hparams.dataset} has no labels to train on: use it with `dlkdd "
                "predict`, and train on a labeled dataset (folder, list, arid, ...)."
            )
        self._limit_broken(stage)
        for split in self._splits(stage):
            self._check(split)
            self._stored(split)
        if self.trainer is not None:
            self._write_class_names(stage)

    def _check(self, split: str) -> CheckedSplit:
        if split not in self.checked:
            hp = self.hparams
            root = Path(hp.root)
            folder = root if root.is_dir() else root.parent  # dataset=videos: root may be a list file
            manifest = Manifest(Path(hp.manifest) if hp.manifest else default_manifest_path(folder))
            checked = check_split(split, self.source.items(split), root, manifest, max(hp.num_workers, 4))
            self.broken.exclude(split, checked.total, checked.broken)
            self.checked[split] = checked
        return self.checked[split]

    def _stored(self, split: str) -> list[Path | None] | None:
        """The split's entries in the clip store (decoding the videos not stored yet), None without one."""
        hp = self.hparams
        root = Path(hp.root)
        folder = store_folder(hp.clip_store, root if root.is_dir() else root.parent)
        if folder is None:
            return None
        if split not in self.stored:
            checked = self._check(split)
            store = ClipStore(folder, hp.frame_size)
            self.stored[split] = store.build([item.path for item in checked.items], checked.num_frames,
                                             max(hp.num_workers, 1), hp.decode_time_limit)
        return self.stored[split]

    def _write_class_names(self, stage: str) -> None:
        """The label -> class name mapping beside the run (the checkpoint carries it too): in the
        logger's folder, else in the folder that holds the checkpoints folder (inside it, the file made
        ModelCheckpoint warn that the folder is not empty); never in the working directory. Not at
        predict, whose result is its output file."""
        trainer = self.trainer
        checkpoints = trainer.checkpoint_callback.dirpath if trainer.checkpoint_callback else None
        folder = trainer.log_dir if trainer.loggers else checkpoints and Path(checkpoints).parent
        if stage == "predict" or folder is None or not trainer.is_global_zero:
            return
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        lines = "".join(f"{k}\t{name}\n" for k, name in enumerate(self.class_names))
        (folder / "class_names.txt").write_text(lines)

    @property
    def failed_videos(self) -> dict[str, str]:
        """Every broken video met so far (path -> reason), each reported once."""
        return self.broken.reasons

    def _dataset(self, stage_split: str, train: bool) -> VideoClipDataset:
        hp = self.hparams
        checked = self._check(stage_split)
        return VideoClipDataset(
            checked.items,
            hp.clip_len,
            hp.frame_stride,
            hp.frame_size,
            num_clips=None if train else hp.num_clips,
            num_frames=checked.num_frames,
            split=stage_split,
            decode_time_limit=hp.decode_time_limit,
            stored=self._stored(stage_split),
        )

    def _loader(self, stage_split: str, train: bool) -> DataLoader:
        hp = self.hparams
        workers = hp.num_workers
        return ordered_loader(  # resumable training order; evaluation: each video once under DDP
            self._dataset(stage_split, train),
            train,
            self.trainer,
            batch_size=hp.batch_size if train else (hp.eval_batch_size or hp.batch_size),
            num_workers=workers,
            collate_fn=collate_clips,
            pin_memory=torch.cuda.is_available(),  # pinning is for host-to-GPU copies only
            persistent_workers=workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", train=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader(self.hparams.predict_split, train=False)

    @property
    def views_per_video(self) -> int:
        return self.hparams.num_clips * self.hparams.num_crops

    @property
    def clip_spec(self) -> ClipSpec:
        """How this module cuts clips (with its class names): what a checkpoint of a model trained on it
        gives back through ClipSpec.from_checkpoint, the model's view and backbone aside."""
        return ClipSpec.from_options(self.hparams, {"class_names": self.class_names})

    def _report_failed(self, failed: list[tuple[str, str, str]]) -> None:
        for path, error, split in failed:
            self.broken.fail(split, path, error)

    def on_after_batch_transfer(self, batch: LoadedBatch, dataloader_idx: int) -> Batch | None:
        self._report_failed(batch.pop("failed"))
        if "video" not in batch:
            return None  # every video of this batch was unreadable; the step skips it
        trainer = self.trainer
        train = bool(trainer and trainer.training)
        model = trainer.lightning_module if trainer else None
        views = getattr(model, "input_views", VIEWS)
        out = self.views(batch.pop("video"), train=train, views=views)
        out.update(batch)
        out["num_views"] = 1 if train else self.views_per_video
        return out
