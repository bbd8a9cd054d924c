"""Zero-DCE (Guo, Li et al., "Zero-Reference Deep Curve Estimation for Low-Light Image Enhancement",
CVPR 2020), the network as released in github Li-Chongyi/Zero-DCE (Zero-DCE_code/model.py,
``enhance_net_nopool``): seven full 3x3 convolutions of 32 channels with symmetric skips (79,416
parameters), whose last layer gives 24 curve maps, one (R, G, B) map per iteration, applied 8 times.

The parameters have the released names (``e_conv1`` ... ``e_conv7``), so the authors' weights file
(``snapshots/Epoch99.pth``, a plain state_dict) loads as it is, by name (downloaded once, checksum
checked: dlkdd.backbones.published) or as a local file:
``--data.enhancer zero_dce_v1 --data.enhancer_options '{checkpoint: zero_dce_sice}'`` (or ``Epoch99.pth``).
It also trains on a dataset's own dark video with the same non-reference losses and EnhancerModule
(``network: zero_dce_v1``). The released curve is written x + r * (x^2 - x), i.e.
LE(x) = x - r * x * (1 - x): its sign is kept so the released weights brighten as they did there.
DL-KDD's teacher view is this network.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dlkdd.enhance.classic import per_frame
from dlkdd.enhance.registry import register_enhancer
from dlkdd.enhance.zero_dce import check_keys, downscaled, read_checkpoint, upscaled

WEIGHTS_HINT = (
    "use the authors' weights by name, checkpoint: zero_dce_sice (downloaded once), or their file "
    "Zero-DCE_code/snapshots/Epoch99.pth (github.com/Li-Chongyi/Zero-DCE), or train one on "
    "your dark videos with `dlkdd fit --config configs/<dataset>/enhancer.yaml --model.init_args.network "
    "zero_dce_v1` and pass its runs/<dataset>/enhancer/checkpoints/best.ckpt"
)

ITERATIONS = 8  # 24 curve maps = 8 iterations x (R, G, B): fixed by the network's last layer
WIDTH = 32


@register_enhancer("zero_dce_v1")
class ZeroDCEV1(nn.Module):
    """Original Zero-DCE enhancer (B,C,T,H,W) -> (B,C,T,H,W); `curves` is the per-image training entry point.

    Options:
        checkpoint: trained weights: ``zero_dce_sice`` (the authors' Epoch99.pth, downloaded by name), a
            local file of the authors' (or any state_dict in its layout), or the
            Lightning checkpoint of an EnhancerModule run with network zero_dce_v1. Without one the
            network is randomly initialised (not a useful enhancer).
        scale_factor: estimate the curve maps on frames downscaled by this factor (1, the default, is
            the released network; a larger factor trades detail for speed, as Zero-DCE++ does).
    """

    learned = True  # brightens only once trained
    monotone = False  # the curves vary per pixel, so two pixels can swap order

    def __init__(self, checkpoint: str | None = None, scale_factor: int | None = None) -> None:
        super().__init__()
        state, trained_with = (
            read_checkpoint(checkpoint, "zero_dce_v1", WEIGHTS_HINT) if checkpoint is not None else ({}, {})
        )
        if scale_factor is None:
            scale_factor = trained_with.get("scale_factor", 1)
        if scale_factor < 1:
            raise ValueError(f"zero_dce_v1: scale_factor must be >= 1, got {scale_factor} "
                             "(set --data.enhancer_options)")
        self.scale_factor = int(scale_factor)
        self.e_conv1 = nn.Conv2d(3, WIDTH, 3, 1, 1)
        self.e_conv2 = nn.Conv2d(WIDTH, WIDTH, 3, 1, 1)
        self.e_conv3 = nn.Conv2d(WIDTH, WIDTH, 3, 1, 1)
        self.e_conv4 = nn.Conv2d(WIDTH, WIDTH, 3, 1, 1)
        self.e_conv5 = nn.Conv2d(2 * WIDTH, WIDTH, 3, 1, 1)
        self.e_conv6 = nn.Conv2d(2 * WIDTH, WIDTH, 3, 1, 1)
        self.e_conv7 = nn.Conv2d(2 * WIDTH, 3 * ITERATIONS, 3, 1, 1)
        if checkpoint is not None:
            check_keys(checkpoint, state, self.state_dict().keys(), "zero_dce_v1", "Zero-DCE (original)")
            self.load_state_dict(state)

    def curve_map(self, frames: Tensor) -> Tensor:
        """(N,3,H,W) in [0,1] -> r (N,24,H,W) in [-1,1]: iteration i uses channels 3i..3i+2."""
        x = downscaled(frames.to(self.e_conv1.weight.dtype), self.scale_factor)
        x1 = F.relu(self.e_conv1(x))
        x2 = F.relu(self.e_conv2(x1))
        x3 = F.relu(self.e_conv3(x2))
        x4 = F.relu(self.e_conv4(x3))
        x5 = F.relu(self.e_conv5(torch.cat([x3, x4], 1)))
        x6 = F.relu(self.e_conv6(torch.cat([x2, x5], 1)))
        return upscaled(torch.tanh(self.e_conv7(torch.cat([x1, x6], 1))), frames)

    def curves(self, frames: Tensor) -> tuple[Tensor, Tensor]:
        """(N,3,H,W) in [0,1] -> (enhanced frames, the 24 curve maps): what the Zero-DCE losses need."""
        curve_maps = self.curve_map(frames)
        x = frames.to(curve_maps.dtype)
        for r in curve_maps.split(3, dim=1):  # as released: x + r * (x^2 - x), stays in [0,1]
            x = x + r * (x * x - x)
        return x, curve_maps

    def forward(self, video: Tensor) -> Tensor:
        # The clamp only removes float rounding past 1; in exact arithmetic the curves stay in [0,1].
        enhanced = per_frame(lambda frames: self.curves(frames)[0].clamp(0.0, 1.0), video)
        return enhanced.to(video.dtype)

    def extra_repr(self) -> str:
        return f"scale_factor={self.scale_factor}"
