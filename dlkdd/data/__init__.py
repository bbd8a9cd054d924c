"""Data: sources (split lists), PyAV clip decoding, temporal sampling, on-device views, the DataModule."""

from dlkdd.data.datamodule import DarkVideoDataModule
from dlkdd.data.sources import list_datasets

__all__ = ["DarkVideoDataModule", "list_datasets"]
