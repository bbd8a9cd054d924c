"""On-device view building: uint8 clips -> float `original` and `enhanced` views.

Geometry (crop, flip) is applied once, to the dark clip, with the same parameters on every frame;
the enhancer is per-pixel, so enhancing the augmented clip gives a view aligned pixel for pixel with
the original without replaying any augmentation parameters.
"""

from __future__ import annotations

import kornia.augmentation as K
import torch
from torch import Tensor, nn


def to_float_video(video: Tensor) -> Tensor:
    """uint8 (N,T,H,W,C) -> float (N,C,T,H,W) in [0,1]. Done on the device: 4x less to transfer."""
    return video.permute(0, 4, 1, 2, 3).float().div_(255.0)


EVAL_CROPS = (1, 3, 5, 10)


def eval_crops(video: Tensor, crop_size: int, num_crops: int) -> Tensor:
    """(N,C,T,H,W) -> (N*num_crops,C,T,crop,crop), ordered video-major. The crops:
    1: the centre; 3: three spread evenly along the long side (MMAction2's ThreeCrop, its 10x3 test);
    5: the four corners and the centre (torchvision's five_crop); 10: those five and their horizontal
    flips (torchvision's ten_crop, DarkLight's 1x10 test)."""
    if num_crops not in EVAL_CROPS:
        raise ValueError(f"num_crops must be one of {EVAL_CROPS}, got {num_crops} (--data.num_crops)")
    height, width = video.shape[-2:]
    if crop_size > min(height, width):
        raise ValueError(
            f"crop_size {crop_size} is larger than the decoded frames ({height}x{width}); "
            "raise --data.frame_size or lower --data.crop_size"
        )
    top, left = (height - crop_size) // 2, (width - crop_size) // 2
    if num_crops == 1:
        return video[..., top : top + crop_size, left : left + crop_size]
    if num_crops == 3:
        long_positions = torch.linspace(0, max(height, width) - crop_size, 3).round().long().tolist()
        if width >= height:
            crops = [video[..., top : top + crop_size, p : p + crop_size] for p in long_positions]
        else:
            crops = [video[..., p : p + crop_size, left : left + crop_size] for p in long_positions]
    else:
        bottom, right = height - crop_size, width - crop_size
        corners = [(0, 0), (0, right), (bottom, 0), (bottom, right), (top, left)]
        sources = [video] if num_crops == 5 else [video, video.flip(-1)]  # torchvision's order
        crops = [s[..., y : y + crop_size, x : x + crop_size] for s in sources for y, x in corners]
    return torch.stack(crops, dim=1).flatten(0, 1)


def video_probabilities(logits: Tensor, num_views: int) -> Tensor:
    """(B*V, K) logits of V views per video, video-major (as eval_crops and the evaluation clips order
    them) -> (B, K): one prediction per video, the softmax averaged over its views."""
    return logits.softmax(dim=-1).view(-1, num_views, logits.shape[-1]).mean(dim=1)


class ViewBuilder(nn.Module):
    """Builds the views a model asks for from a uint8 batch already on the device."""

    def __init__(
        self,
        enhancer: nn.Module,
        crop_size: int,
        min_scale: float,
        hflip: bool,
        num_crops: int,
        augment: bool = True,
    ) -> None:
        super().__init__()
        self.enhancer = enhancer
        self.crop_size = crop_size
        self.num_crops = num_crops
        self.augment = augment  # False: training clips take the centre crop, so their views are fixed
        geometric = [K.RandomResizedCrop((crop_size, crop_size), scale=(min_scale, 1.0))]
        if hflip:
            geometric.append(K.RandomHorizontalFlip())
        self.train_augment = nn.Sequential(*geometric)

    def augment_clips(self, video: Tensor) -> Tensor:
        """Random resized crop (and flip) of (N,C,T,H,W) clips, one draw per clip. The frames go in as
        the channels of one image, so every frame of a clip gets the same crop by construction, and
        Kornia crops N images instead of N*T (measured: a third less time than VideoSequential's
        same_on_frame on the synthetic configs' batches, CPU)."""
        n, c, t, h, w = video.shape
        out = self.train_augment(video.reshape(n, c * t, h, w))
        return out.view(n, c, t, self.crop_size, self.crop_size)

    @torch.no_grad()
    def forward(self, video: Tensor, train: bool, views: set[str]) -> dict[str, Tensor]:
        """video: uint8 (B,T,H,W,C) for training, (B,V,T,H,W,C) for evaluation (V clips per video).

        Returns the requested views, float (N,C,T,crop,crop), N = B or B*V*num_crops, video-major.
        """
        if video.ndim == 6:
            video = video.flatten(0, 1)
        original = to_float_video(video)
        if train and self.augment:
            original = self.augment_clips(original)
        else:
            original = eval_crops(original, self.crop_size, 1 if train else self.num_crops)
        out = {"original": original}
        if "enhanced" in views:
            out["enhanced"] = self.enhancer.to(original.device)(original)
        return out
