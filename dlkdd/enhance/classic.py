"""Per-pixel enhancers from the dark-video literature. Being per-pixel, they keep the enhanced view
aligned with the original after any geometric augmentation, so augmentation runs once."""

from __future__ import annotations

import kornia.enhance
import torch
from torch import Tensor, nn

from dlkdd.enhance.registry import register_enhancer


@register_enhancer("identity")
class Identity(nn.Module):
    """No enhancement: the 'enhanced' view is the dark clip itself (an ablation baseline)."""

    def forward(self, video: Tensor) -> Tensor:
        return video


@register_enhancer("gic")
class GammaIntensityCorrection(nn.Module):
    """GIC, out = in ** (1 / gamma): the enhancer of DarkLight (gamma 1.8-2.0) and ARID's tooling."""

    def __init__(self, gamma: float = 2.0) -> None:
        super().__init__()
        if gamma <= 0:
            raise ValueError(f"gic: gamma must be > 0, got {gamma} (set --data.enhancer_options.gamma)")
        self.gamma = float(gamma)

    def forward(self, video: Tensor) -> Tensor:
        return kornia.enhance.adjust_gamma(video, 1.0 / self.gamma)

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}"


@register_enhancer("log")
class LogCorrection(nn.Module):
    """Logarithmic correction, out = gain * log2(1 + in): lifts shadows more gently than a high gamma."""

    def __init__(self, gain: float = 1.0) -> None:
        super().__init__()
        self.gain = float(gain)

    def forward(self, video: Tensor) -> Tensor:
        return torch.clamp(kornia.enhance.adjust_log(video, gain=self.gain, clip_output=False), 0.0, 1.0)

    def extra_repr(self) -> str:
        return f"gain={self.gain}"
