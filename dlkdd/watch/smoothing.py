"""Temporal smoothing of window probabilities: the mean over the last `windows` windows (causal, so a
live result never waits for the future; 1 = no smoothing)."""

from __future__ import annotations

from collections import deque

import torch
from torch import Tensor


class MovingAverage:
    def __init__(self, windows: int = 1) -> None:
        if windows < 1:
            raise ValueError(f"--smooth must be >= 1 (windows averaged; 1 = none), got {windows}")
        self.recent: deque[Tensor] = deque(maxlen=windows)

    def __call__(self, probs: Tensor) -> Tensor:
        """(K,) probabilities of the newest window -> the smoothed (K,)."""
        self.recent.append(probs)
        return probs if len(self.recent) == 1 else torch.stack(list(self.recent)).mean(dim=0)

    def reset(self) -> None:
        self.recent.clear()
