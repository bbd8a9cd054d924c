"""Zero-DCE++ (Li, Guo and Loy, "Learning to Enhance Low-Light Image via Zero-Reference Deep Curve
Estimation", TPAMI 2021): a ~10k-parameter CNN predicts a per-pixel, per-channel curve parameter
alpha, and the frame is brightened by iterating the quadratic curve LE(x) = x + alpha * x * (1 - x).

It is trained without reference images by the losses of `dlkdd.enhance.losses`; an untrained
(randomly initialised) Zero-DCE fits the enhancer contract but is not a useful enhancer, so as a
view maker it needs `--data.enhancer_options.checkpoint`.

Registered as `zero_dce_pp`, and as `zero_dce` (its name before the original Zero-DCE, `zero_dce_v1` in
dlkdd.enhance.zero_dce_v1, was added: shipped configs and checkpoints that say `zero_dce` keep meaning
Zero-DCE++)."""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dlkdd.backbones.published import enhancer_weights
from dlkdd.enhance.classic import per_frame
from dlkdd.enhance.registry import register_enhancer

TRAIN_HINT = (
    "train one on your dark videos with `dlkdd fit --config configs/<dataset>/enhancer.yaml` "
    "(e.g. configs/synthetic/enhancer.yaml) and pass its runs/<dataset>/enhancer/checkpoints/best.ckpt"
)
LIGHTNING_PREFIX = "enhancer."  # EnhancerModule (dlkdd.models) holds the ZeroDCE as `self.enhancer`
DEFAULT_SCALE_FACTOR, DEFAULT_ITERATIONS = 1, 8


class SeparableConv(nn.Module):
    """A depthwise 3x3 conv then a pointwise 1x1 conv: Zero-DCE++'s replacement for Zero-DCE's full
    3x3 convs, same receptive field, and the network shrinks from 79k to ~10k parameters."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(in_channels, in_channels, 3, padding=1, groups=in_channels)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.pointwise(self.depthwise(x))


def apply_curves(frames: Tensor, alpha: Tensor, iterations: int) -> Tensor:
    """LE(x) = x + alpha * x * (1 - x), applied `iterations` times with the same alpha (Zero-DCE++
    shares one curve map across iterations; Zero-DCE had one per iteration). For x in [0,1] and alpha
    in [-1,1] every step stays in [0,1] and is monotone in x."""
    for _ in range(iterations):
        frames = frames + alpha * frames * (1 - frames)
    return frames


@register_enhancer("zero_dce")
@register_enhancer("zero_dce_pp")
class ZeroDCE(nn.Module):
    """Zero-DCE++ enhancer (B,C,T,H,W) -> (B,C,T,H,W); `curves` is the per-image training entry point.

    Options:
        scale_factor: the curve map is estimated on frames downscaled by this factor and upsampled
            back bilinearly (curves are smooth, so little is lost; Zero-DCE++ uses 12 on 1200x900).
            Training with a factor > 1 on CUDA fails under torch.use_deterministic_algorithms
            (Lightning's deterministic=True): bilinear interpolation has no deterministic CUDA backward.
            Default: the checkpoint's training value, else 1.
        iterations: how many times the curve is applied. Default: the checkpoint's, else 8 (the paper).
        checkpoint: trained weights, a raw state_dict or the Lightning checkpoint of an EnhancerModule
            run (keys under 'enhancer.', training options in its hyper-parameters); without one the
            network is randomly initialised.
    """

    learned = True  # brightens only once trained
    monotone = False  # alpha varies per pixel, so two pixels can swap order

    def __init__(
        self, scale_factor: int | None = None, iterations: int | None = None, checkpoint: str | None = None
    ) -> None:
        super().__init__()
        state, trained_with = read_checkpoint(checkpoint) if checkpoint is not None else ({}, {})
        # A curve map learned at one scale or iteration count does not transfer to another, so the
        # training values are the defaults; an explicit option still wins.
        if scale_factor is None:
            scale_factor = trained_with.get("scale_factor", DEFAULT_SCALE_FACTOR)
        if iterations is None:
            iterations = trained_with.get("iterations", DEFAULT_ITERATIONS)
        if scale_factor < 1 or iterations < 1:
            raise ValueError(
                f"zero_dce: scale_factor and iterations must be >= 1, got {scale_factor} and {iterations} "
                "(set --data.enhancer_options)"
            )
        self.scale_factor = int(scale_factor)
        self.iterations = int(iterations)
        width = 32
        # Seven layers with symmetric skips: conv5 sees conv3+conv4, conv6 conv2+conv5, conv7 conv1+conv6.
        self.convs = nn.ModuleList(
            [SeparableConv(3, width)]
            + [SeparableConv(width, width) for _ in range(3)]
            + [SeparableConv(2 * width, width) for _ in range(2)]
            + [SeparableConv(2 * width, 3)]
        )
        if checkpoint is not None:
            check_keys(checkpoint, state, self.state_dict().keys(), "zero_dce_pp", "Zero-DCE++")
            self.load_state_dict(state)

    def curve_map(self, frames: Tensor) -> Tensor:
        """(N,3,H,W) in [0,1] -> alpha (N,3,H,W) in [-1,1], estimated at 1/scale_factor resolution."""
        x = downscaled(frames.to(self.convs[0].depthwise.weight.dtype), self.scale_factor)
        c1, c2, c3, c4, c5, c6, c7 = self.convs
        x1 = F.relu(c1(x))
        x2 = F.relu(c2(x1))
        x3 = F.relu(c3(x2))
        x4 = F.relu(c4(x3))
        x5 = F.relu(c5(torch.cat([x3, x4], 1)))
        x6 = F.relu(c6(torch.cat([x2, x5], 1)))
        alpha = torch.tanh(c7(torch.cat([x1, x6], 1)))
        return upscaled(alpha, frames)

    def curves(self, frames: Tensor) -> tuple[Tensor, Tensor]:
        """(N,3,H,W) in [0,1] -> (enhanced frames, alpha): what the Zero-DCE losses need."""
        alpha = self.curve_map(frames)
        return apply_curves(frames, alpha, self.iterations), alpha

    def forward(self, video: Tensor) -> Tensor:
        # The clamp only removes float rounding past 1; in exact arithmetic the curves stay in [0,1].
        enhanced = per_frame(lambda frames: self.curves(frames)[0].clamp(0.0, 1.0), video)
        return enhanced.to(video.dtype)

    def extra_repr(self) -> str:
        return f"scale_factor={self.scale_factor}, iterations={self.iterations}"


def downscaled(frames: Tensor, scale_factor: int) -> Tensor:
    """Frames at 1/scale_factor resolution, where the curve map is estimated."""
    if scale_factor == 1:
        return frames
    height, width = frames.shape[-2:]
    size = (max(1, height // scale_factor), max(1, width // scale_factor))
    # antialias (the released code has none): averages the sensor noise of dark frames
    # instead of reading only the 4 pixels nearest each output pixel.
    return F.interpolate(frames, size=size, mode="bilinear", align_corners=False, antialias=True)


def upscaled(curve_map: Tensor, frames: Tensor) -> Tensor:
    """A curve map estimated on downscaled frames, back at the frames' size (bilinear)."""
    if curve_map.shape[-2:] == frames.shape[-2:]:
        return curve_map
    return F.interpolate(curve_map, size=frames.shape[-2:], mode="bilinear", align_corners=False)


def read_checkpoint(
    path: str, name: str = "zero_dce", hint: str = TRAIN_HINT
) -> tuple[dict[str, Tensor], dict]:
    """(ZeroDCE weights, training options) in `path` (or in the file of a published name, see
    dlkdd.backbones.published): a raw state_dict with no options, or a Lightning
    checkpoint's 'state_dict' with the 'enhancer.' prefix stripped and its 'hyper_parameters'. A raw
    state_dict saved from an nn.DataParallel ('module.' before every key) is read as the plain one."""
    published = enhancer_weights(path, name)  # a published name ("zero_dce_sice"): its cached file
    try:
        checkpoint = torch.load(published or path, map_location="cpu", weights_only=True)
    except FileNotFoundError as err:
        raise FileNotFoundError(
            f"{name}: checkpoint {path!r} not found (option --data.enhancer_options.checkpoint); {hint}"
        ) from err
    if not isinstance(checkpoint, dict):
        raise ValueError(f"{name}: {path!r} holds a {type(checkpoint).__name__}, not a state_dict")
    if "state_dict" not in checkpoint:
        if checkpoint and all(key.startswith("module.") for key in checkpoint):
            return {key.removeprefix("module."): value for key, value in checkpoint.items()}, {}
        return checkpoint, {}
    state = {
        key.removeprefix(LIGHTNING_PREFIX): value
        for key, value in checkpoint["state_dict"].items()
        if key.startswith(LIGHTNING_PREFIX)
    }
    return state, dict(checkpoint.get("hyper_parameters", {}))


def check_keys(
    path: str, state: dict[str, Tensor], expected: Iterable[str], name: str, network: str
) -> None:
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ValueError(
            f"{name}: checkpoint {path!r} does not match the {network} network "
            f"({len(missing)} missing keys, e.g. {missing[:3]}; "
            f"{len(unexpected)} unexpected keys, e.g. {unexpected[:3]}). Give a {network} state_dict or "
            f"a Lightning checkpoint whose enhancer weights are under '{LIGHTNING_PREFIX}' (EnhancerModule "
            f"with network {name}); zero_dce / zero_dce_pp is Zero-DCE++, zero_dce_v1 the original "
            f"Zero-DCE; {TRAIN_HINT}"
        )
