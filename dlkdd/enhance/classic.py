"""Hand-crafted enhancers from the dark-video literature. Each enhances the clip after augmentation, so
the enhanced view stays aligned pixel for pixel with the original and augmentation runs once.

Attributes read by the shared enhancer tests: `monotone = False` marks an enhancer whose output can
reorder pixels across a clip (e.g. one lookup table per frame), `learned = True` one that only
brightens once trained."""

from __future__ import annotations

from collections.abc import Callable

import kornia.enhance
import torch
from torch import Tensor, nn

from dlkdd.enhance.registry import register_enhancer


def per_frame(image_op: Callable[[Tensor], Tensor], video: Tensor) -> Tensor:
    """Apply an image op on (N,C,H,W) to every frame of a (B,C,T,H,W) video in one batched call."""
    batch, channels, frames, height, width = video.shape
    images = video.transpose(1, 2).reshape(batch * frames, channels, height, width)
    out = image_op(images)
    return out.reshape(batch, frames, channels, height, width).transpose(1, 2).contiguous()


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


@register_enhancer("he")
class HistogramEqualization(nn.Module):
    """Global histogram equalization of each frame, each colour channel on its own (kornia's
    `equalize`, PIL's algorithm on 8-bit levels). It stretches the few dark levels a dark frame uses
    over the whole range; equalizing R, G and B separately can shift colours, as classic HE does."""

    # One lookup table per frame and channel: monotone within a frame's channel, not across the clip.
    monotone = False

    def forward(self, video: Tensor) -> Tensor:
        return per_frame(kornia.enhance.equalize, video)


@register_enhancer("clahe")
class ContrastLimitedHistogramEqualization(nn.Module):
    """CLAHE (kornia's `equalize_clahe`) of each frame, each colour channel on its own.

    Options:
        clip_limit: cap on a histogram bin, in multiples of the mean bin count (OpenCV's convention;
            0 disables clipping). The cap bounds the slope of each tile's curve, so the sensor noise
            of flat dark areas is amplified less than under plain HE. Kornia's (and OpenCV's)
            default of 40 barely clips; 2 is the common practical choice.
        grid_size: tiles (rows, columns) per frame. Kornia requires each frame axis to be larger
            than its tile count (H > rows, W > columns). 4x4 rather than kornia's 8x8 because clip
            crops are small (112-224 px): an 8x8 grid on 112 px leaves 196 pixels to fill 256 bins.
    """

    # Local: each tile has its own curve, blended between tiles, so pixel order is not kept globally.
    monotone = False

    def __init__(self, clip_limit: float = 2.0, grid_size: tuple[int, int] = (4, 4)) -> None:
        super().__init__()
        if clip_limit < 0:
            raise ValueError(
                f"clahe: clip_limit must be >= 0, got {clip_limit} (set --data.enhancer_options.clip_limit)"
            )
        if len(grid_size) != 2 or min(grid_size) < 1:
            raise ValueError(
                f"clahe: grid_size must be two positive tile counts, got {grid_size} "
                "(set --data.enhancer_options.grid_size)"
            )
        # Kornia type-checks both: clip_limit must be a float (YAML reads `2` as an int) and
        # grid_size a tuple (YAML and the CLI give a list).
        self.clip_limit = float(clip_limit)
        self.grid_size = (int(grid_size[0]), int(grid_size[1]))

    def forward(self, video: Tensor) -> Tensor:
        height, width = video.shape[-2:]
        if height <= self.grid_size[0] or width <= self.grid_size[1]:
            raise ValueError(
                f"clahe: frames of {height}x{width} are too small for a {self.grid_size} tile grid "
                "(each frame axis must exceed its tile count); lower --data.enhancer_options.grid_size"
            )
        return per_frame(self._equalize, video)

    def _equalize(self, images: Tensor) -> Tensor:
        return kornia.enhance.equalize_clahe(images, self.clip_limit, self.grid_size)

    def extra_repr(self) -> str:
        return f"clip_limit={self.clip_limit}, grid_size={self.grid_size}"
