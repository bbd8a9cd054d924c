"""The batches DarkVideoDataModule hands on, named once: what a worker's collate yields (`LoadedBatch`)
and what a model's step reads after the DataModule has built the views on the device (`Batch`).

Both stay plain dicts at runtime (the DataLoader's collate, Lightning's device transfer and DDP move
dicts); these TypedDicts name their keys, shapes and meaning, and let a type checker catch a misspelt key.
"""

from __future__ import annotations

from typing import Literal, TypedDict

from torch import Tensor

# The two views of a clip: the raw dark clip, and the same clip through the enhancer.
View = Literal["original", "enhanced"]
VIEWS: frozenset[str] = frozenset({"original", "enhanced"})


class LoadedBatch(TypedDict, total=False):
    """A collated batch as it leaves the workers (uint8, before the views)."""

    video: Tensor  # uint8 (B, T, H, W, 3) in training; (B, V, T, H, W, 3) with V = num_clips in evaluation
    label: Tensor  # (B,) class index per video, NO_LABEL for unlabeled videos (dataset=videos)
    index: Tensor  # (B,) the video's position in its split list
    start: Tensor  # (B,) training only: the clip's first frame (with index, the clip's identity)
    failed: list[tuple[str, str, str]]  # (path, error, split) of the videos that failed to decode


class Batch(TypedDict, total=False):
    """What a model's step receives: the views the model asked for (its `input_views`), float
    (N, 3, T, crop, crop) in [0, 1], N = B in training and B * num_views in evaluation (video-major)."""

    original: Tensor  # the raw dark clip
    enhanced: Tensor  # the clip through the DataModule's enhancer (only when the model asks for it)
    label: Tensor  # (B,) as in LoadedBatch
    index: Tensor  # (B,)
    start: Tensor  # (B,) training only
    num_views: int  # views per video: 1 in training, num_clips * num_crops in evaluation


class Predictions(TypedDict):
    """What an evaluation or predict step returns, per video (PredictionWriter and the media callback
    read it)."""

    index: Tensor  # (B,) as in Batch
    probs: Tensor  # (B, num_classes) softmax averaged over the video's views
    label: Tensor  # (B,)
