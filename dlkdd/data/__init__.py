"""Data: sources (split lists), PyAV clip decoding, temporal sampling, on-device views, the DataModule."""

from dlkdd.data.batch import Batch
from dlkdd.data.clip_spec import ClipSpec
from dlkdd.data.datamodule import DarkVideoDataModule
from dlkdd.data.sources import list_datasets

__all__ = ["Batch", "ClipSpec", "DarkVideoDataModule", "list_datasets"]
