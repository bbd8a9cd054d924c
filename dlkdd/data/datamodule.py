"""DarkVideoDataModule: streams uint8 clips from the workers, builds the views on the device."""

from __future__ import annotations

from dataclasses import asdict

import lightning as L
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from torch.utils.data import DataLoader

from dlkdd.data.dataset import VideoClipDataset, collate_clips
from dlkdd.data.sources import Source, make_source
from dlkdd.data.synthetic import SyntheticConfig, generate_dataset, is_generated
from dlkdd.data.views import ViewBuilder
from dlkdd.enhance import create_enhancer

ALL_VIEWS = frozenset({"original", "enhanced"})


class DarkVideoDataModule(L.LightningDataModule):
    """Dark video clips with paired `original` (dark) and `enhanced` views.

    Args:
        dataset: source of videos and split lists: synthetic, arid, arid15.
        root: dataset folder. For `synthetic`, an empty or missing folder is filled by prepare_data.
        split: which official split (1-3 for ARID).
        clip_len: frames per clip.
        frame_stride: step between sampled frames (a clip spans (clip_len - 1) * frame_stride + 1 frames).
        frame_size: (height, width) frames are decoded to (aspect kept, centre cropped), before crops.
        crop_size: square crop fed to the network (train: random resized crop; eval: fixed crops).
        min_scale: smallest crop area fraction of RandomResizedCrop.
        hflip: random horizontal flips; keep False when left/right is part of the label.
        num_clips: clips per video at validation/test/predict (softmax averaged per video).
        num_crops: spatial crops per clip at validation/test/predict (1 = centre, 3 = ThreeCrop).
        enhancer: name of the enhancer that makes the `enhanced` view (see dlkdd.enhance).
        enhancer_options: keyword arguments of the enhancer, e.g. {gamma: 2.0} for gic.
        batch_size: clips per training batch (per device).
        eval_batch_size: videos per evaluation batch (each brings num_clips * num_crops views).
        num_workers: DataLoader worker processes that decode.
        predict_split: the split `dlkdd predict` runs on.
        synthetic: options of the generated dataset (dataset=synthetic only).
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
        num_clips: int = 2,
        num_crops: int = 1,
        enhancer: str = "gic",
        enhancer_options: dict | None = None,
        batch_size: int = 16,
        eval_batch_size: int | None = None,
        num_workers: int = 2,
        predict_split: str = "test",
        synthetic: SyntheticConfig | None = None,
    ) -> None:
        super().__init__()
        # Plain types only: checkpoints must load with weights_only=True.
        self.save_hyperparameters(ignore=["synthetic"])
        self.synthetic_config = synthetic or SyntheticConfig()
        self.hparams["synthetic"] = asdict(self.synthetic_config)
        self.source: Source = make_source(dataset, root, split)
        self.class_names: list[str] = list(self.source.class_names)
        self.num_classes = len(self.class_names)
        self.views = ViewBuilder(
            create_enhancer(enhancer, **(enhancer_options or {})), crop_size, min_scale, hflip, num_crops
        )
        self.failed_videos: dict[str, str] = {}

    def prepare_data(self) -> None:
        if self.hparams.dataset == "synthetic" and not is_generated(self.hparams.root, self.synthetic_config):
            rank_zero_info(f"Generating the synthetic dark-video dataset in {self.hparams.root} ...")
            generate_dataset(self.hparams.root, self.synthetic_config, progress=True)

    def _dataset(self, stage_split: str, train: bool) -> VideoClipDataset:
        hp = self.hparams
        return VideoClipDataset(
            self.source.items(stage_split),
            hp.clip_len,
            hp.frame_stride,
            hp.frame_size,
            num_clips=None if train else hp.num_clips,
        )

    def _loader(self, stage_split: str, train: bool) -> DataLoader:
        hp = self.hparams
        workers = hp.num_workers
        return DataLoader(
            self._dataset(stage_split, train),
            batch_size=hp.batch_size if train else (hp.eval_batch_size or hp.batch_size),
            shuffle=train,
            drop_last=train,
            num_workers=workers,
            collate_fn=collate_clips,
            pin_memory=True,
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

    def _report_failed(self, failed: list[tuple[str, str]]) -> None:
        for path, error in failed:
            if path not in self.failed_videos:
                self.failed_videos[path] = error
                rank_zero_warn(f"Skipping unreadable video {path}: {error}")

    def on_after_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict | None:
        self._report_failed(batch.pop("failed"))
        if "video" not in batch:
            return None  # every video of this batch was unreadable; the step skips it
        trainer = self.trainer
        train = bool(trainer and trainer.training)
        model = trainer.lightning_module if trainer else None
        views = getattr(model, "input_views", ALL_VIEWS)
        out = self.views(batch.pop("video"), train=train, views=views)
        out.update(batch)
        out["num_views"] = 1 if train else self.views_per_video
        return out
