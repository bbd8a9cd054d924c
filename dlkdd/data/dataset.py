"""A Dataset of clips from a list of videos: decodes in the worker, returns uint8, never raises."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch.utils.data import Dataset, default_collate

from dlkdd.data.batch import LoadedBatch
from dlkdd.data.decode import VideoDecodeError, decode_clip, probe
from dlkdd.data.decoding_markers import mark_decoding
from dlkdd.data.sampling import random_clip, uniform_clips
from dlkdd.data.sources import VideoItem
from dlkdd.data.store import read_frames


class VideoClipDataset(Dataset):
    """Item i -> {"video": uint8 (T,H,W,3), or (V,T,H,W,3) with V = num_clips when evaluating,
    "label", "index"}, and in training "start" (the clip's first frame: with the index, its identity).
    A video that fails to decode yields {"failed": path, "error": message, "split"}
    so the collate function can drop it and the epoch goes on.

    `num_frames` (per item, from the manifest) saves a container open per clip; without it each worker
    probes a video the first time it needs it. `decode_time_limit` bounds each file's decode (seconds).
    `stored` (per item: its dlkdd.data.store entry, or None) reads the same frames from the clip store.
    """

    def __init__(
        self,
        items: Sequence[VideoItem],
        clip_len: int,
        frame_stride: int,
        frame_size: Sequence[int],
        num_clips: int | None = None,
        num_frames: Sequence[int] | None = None,
        split: str = "train",
        decode_time_limit: float | None = None,
        stored: Sequence[Path | None] | None = None,
    ) -> None:
        self.items = list(items)
        self.clip_len = clip_len
        self.frame_stride = frame_stride
        self.frame_size = tuple(frame_size)
        self.num_clips = num_clips  # None: training, one random clip
        self.split = split
        self.decode_time_limit = decode_time_limit
        self.stored = list(stored) if stored is not None else None
        self._num_frames: dict[int, int] = dict(enumerate(num_frames)) if num_frames is not None else {}

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        item = self.items[index]
        mark_decoding(item.path)  # a worker killed while decoding is then reported with this file
        try:
            if index not in self._num_frames:
                self._num_frames[index] = probe(item.path).num_frames
            num_frames = self._num_frames[index]
            if self.num_clips is None:
                clips = [random_clip(num_frames, self.clip_len, self.frame_stride)]
            else:
                clips = uniform_clips(num_frames, self.clip_len, self.frame_stride, self.num_clips)
            # All clips of a video decoded in one pass: they share the seek and the forward decode.
            flat = [i for clip in clips for i in clip]
            entry = self.stored[index] if self.stored is not None else None
            frames = torch.from_numpy(read_frames(entry, flat) if entry is not None else
                                      decode_clip(item.path, flat, self.frame_size, self.decode_time_limit))
        except (VideoDecodeError, OSError) as err:
            return self._failed(index, str(err))
        except Exception as err:  # noqa: BLE001  one file's failure, whatever it is, must not end the epoch
            return self._failed(index, f"{type(err).__name__}: {err}")
        frames = frames.view(len(clips), self.clip_len, *frames.shape[1:])
        if self.num_clips is None:
            return {"video": frames[0], "label": item.label, "index": index, "start": clips[0][0]}
        return {"video": frames, "label": item.label, "index": index}

    def _failed(self, index: int, error: str) -> dict:
        return {"failed": str(self.items[index].path), "error": error, "split": self.split, "index": index}


def collate_clips(samples: list[dict]) -> LoadedBatch:
    """Stack the good samples; carry the failed ones' paths along so the main process reports them."""
    good = [s for s in samples if "failed" not in s]
    failed = [(s["failed"], s["error"], s["split"]) for s in samples if "failed" in s]
    batch = default_collate(good) if good else {}
    batch["failed"] = failed
    return batch
