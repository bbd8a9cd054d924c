"""Which frame indices make a clip: one random clip for training, uniform clips for evaluation."""

from __future__ import annotations

import torch


def _clip(start: int, num_frames: int, clip_len: int, frame_stride: int) -> list[int]:
    # Videos shorter than the clip span loop from their start: no black padding frames to learn from.
    return [(start + k * frame_stride) % num_frames for k in range(clip_len)]


def clip_span(clip_len: int, frame_stride: int) -> int:
    return (clip_len - 1) * frame_stride + 1


def random_clip(num_frames: int, clip_len: int, frame_stride: int, generator: torch.Generator | None = None):
    """Training: one clip at a uniformly random start (torch RNG, so seeded per DataLoader worker)."""
    last_start = max(0, num_frames - clip_span(clip_len, frame_stride))
    start = int(torch.randint(last_start + 1, (1,), generator=generator))
    return _clip(start, num_frames, clip_len, frame_stride)


def uniform_clips(num_frames: int, clip_len: int, frame_stride: int, num_clips: int) -> list[list[int]]:
    """Evaluation: `num_clips` clips with starts spread evenly over the video (one: the centre clip)."""
    last_start = max(0, num_frames - clip_span(clip_len, frame_stride))
    if num_clips == 1:
        starts = [last_start // 2]
    else:
        starts = [round(i * last_start / (num_clips - 1)) for i in range(num_clips)]
    return [_clip(s, num_frames, clip_len, frame_stride) for s in starts]
