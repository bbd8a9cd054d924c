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


def moving_average(probs: Tensor, windows: int) -> Tensor:
    """MovingAverage over a whole (W, K) sequence at once (no gaps): row i is the mean of rows
    max(0, i - windows + 1) .. i. The calibration replays thousands of settings with it."""
    if windows <= 1:
        return probs
    total = probs.double().cumsum(dim=0)
    behind = torch.cat([torch.zeros_like(total[:windows]), total[:-windows]])[: len(total)]
    counts = torch.arange(1, len(probs) + 1, dtype=torch.float64).clamp(max=windows).unsqueeze(1)
    return ((total - behind) / counts).to(probs.dtype)
