"""Feature taps: a backbone's intermediate feature map, read in the same forward pass as its logits.

Feature distillation needs the last feature map (B, C, T', H', W') of teacher and student, not only the
pooled features. A forward hook on the stage (``spec.last_stage`` by default, any named submodule
otherwise) records it during the ordinary forward, so no network has to be rewritten or run twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from dlkdd._registry import unknown_name_error
from dlkdd.backbones.registry import Backbone, BackboneOutput, BackboneSpec


class Captured:
    """What :func:`captured_output` recorded: the module's output of the last forward inside the block."""

    output: object = None


@contextmanager
def captured_output(module: nn.Module) -> Iterator[Captured]:
    """Record ``module``'s output of every forward run inside the ``with`` block (the last one is kept)."""
    captured = Captured()

    def hook(_module: nn.Module, _inputs: object, output: object) -> None:
        captured.output = output

    handle = module.register_forward_hook(hook)
    try:
        yield captured
    finally:
        handle.remove()


def stage_name(backbone: Backbone, stage: str | None, option: str) -> str:
    """``stage`` (or the spec's last stage when None), checked against the backbone's submodules."""
    name = stage or backbone.spec.last_stage
    names = dict(backbone.named_modules())
    if name not in names or not name:
        # Deep nets have hundreds of modules; the stages and their blocks are what a user picks from.
        known = [n for n in names if n and n.count(".") <= 2]
        raise unknown_name_error(f"stage of backbone '{backbone.name}'", name, known, option)
    return name


def to_bcthw(output: Tensor, spec: BackboneSpec, stage: str) -> Tensor:
    """A stage output -> (B, C, T', H', W'). The last stage follows the spec's layout; another named stage
    must already be a (B, C, T', H', W') map (the convolutional stages of the conv nets are)."""
    layout = spec.feature_layout if stage == spec.last_stage else "BCTHW"
    if layout == "BTHWC":
        output = output.permute(0, 4, 1, 2, 3)
    elif layout == "tokens":
        output = output[:, 1:].transpose(1, 2).unflatten(2, spec.token_grid)  # class token dropped
    if output.ndim != 5:
        raise ValueError(
            f"Stage {stage!r} outputs shape {tuple(output.shape)}, not a (B, C, T, H, W) feature map; "
            "pick a convolutional stage (or leave the stage unset for the last one)."
        )
    return output


def forward_with_features(backbone: Backbone, video: Tensor, stage: str) -> tuple[BackboneOutput, Tensor]:
    """The backbone's ordinary output and the feature map of ``stage`` (a name from :func:`stage_name`)."""
    with captured_output(backbone.get_submodule(stage)) as captured:
        output = backbone(video)
    return output, to_bcthw(captured.output, backbone.spec, stage)


def stage_channels(backbone: Backbone, stage: str) -> int:
    """Channels of ``stage``'s feature map: the spec's feature_dim for the last stage, else one probe
    forward at the backbone's smallest input (in eval mode, so BatchNorm statistics stay untouched)."""
    spec = backbone.spec
    if stage == spec.last_stage:
        return spec.feature_dim
    frames, size = spec.fixed_frames or spec.min_frames, spec.fixed_size or spec.min_size
    was_training = backbone.training
    probe = torch.zeros(1, 3, frames, size, size, device=backbone.head.weight.device)
    with torch.no_grad():
        _, feature_map = forward_with_features(backbone.eval(), probe, stage)
    backbone.train(was_training)
    return feature_map.shape[1]
