"""One registry of video backbones shared by teacher and student (in the style of timm's ``_registry``).

Entry modules (``torchvision_nets``, ``efficient3d``, ``tiny``) register a builder per name with
:func:`register_backbone`; :func:`create_backbone` builds one by name, optionally loads weights, and wraps
it in a :class:`Backbone` that owns input normalisation and the task head, so every model in the package
sees the same interface.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

from dlkdd._registry import register_into, unknown_name_error
from dlkdd.backbones.published import fetch, is_published, published_weights
from dlkdd.backbones.weights import LoadReport, load_backbone_weights

Builder = Callable[[], nn.Module]


@dataclass(frozen=True)
class BackboneSpec:
    """What the data pipeline and the distillation code need to know about a backbone."""

    crop_size: int  # the crop size the net is meant (and was pretrained) for
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    min_frames: int  # smallest clip length that runs
    min_size: int  # smallest square crop that runs
    feature_dim: int  # width of the pre-logit features
    fixed_frames: int | None = None  # set when the net only runs at exactly this clip length
    fixed_size: int | None = None  # set when the net only runs at exactly this crop size
    frame_multiple: int = 1  # clip lengths must be a multiple of this (3D-ShuffleNet v1: 16)
    # Dotted name, relative to the Backbone (so ``backbone.get_submodule(spec.last_stage)`` works), of the
    # module whose output is the last feature map (B, C, T', H', W') or token map; feature distillation
    # hooks here.
    last_stage: str = ""
    # How that module lays out its output: "BCTHW" (conv nets), "BTHWC" (Swin) or "tokens" (MViT: a class
    # token, then T'*H'*W' tokens in `token_grid` order); dlkdd.backbones.features turns all into BCTHW.
    feature_layout: str = "BCTHW"
    token_grid: tuple[int, int, int] | None = None
    kinetics_weights: str | None = None  # torchvision weights enum member: "R3D_18_Weights.KINETICS400_V1"


@dataclass(frozen=True)
class _Entry:
    builder: Builder
    spec: BackboneSpec
    head: str  # attribute of the built model holding its classifier, replaced by nn.Identity
    source_head: str  # the classifier's Linear as checkpoints name it (`head`, or inside it: "classifier.1")


_REGISTRY: dict[str, _Entry] = {}


class BackboneOutput(NamedTuple):
    logits: Tensor  # (B, num_classes)
    features: Tensor  # (B, feature_dim) pre-logit pooled features


class Backbone(nn.Module):
    """Normalisation -> feature extractor ``net`` -> dropout -> linear ``head``.

    Normalising inside the model means callers always feed videos in [0, 1] and cannot pair a teacher with
    the wrong statistics; the mean/std buffers are not persistent because they follow from the spec.
    """

    def __init__(self, name: str, spec: BackboneSpec, net: nn.Module, num_classes: int, dropout: float = 0.0):
        super().__init__()
        self.name = name
        self.spec = spec
        self.register_buffer("mean", torch.tensor(spec.mean).view(1, 3, 1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(spec.std).view(1, 3, 1, 1, 1), persistent=False)
        self.net = net
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(spec.feature_dim, num_classes)

    def forward(self, video: Tensor) -> BackboneOutput:
        """``video``: float (B, 3, T, H, W) in [0, 1]."""
        features = self.net((video - self.mean) / self.std)
        return BackboneOutput(self.head(self.dropout(features)), features)

    def check_input(self, clip_len: int, crop_size: int) -> None:
        """Fail early, at setup time, with the data option to change instead of a shape error mid-epoch."""
        spec = self.spec
        _check_dim(self.name, "clip_len", "frames", clip_len, spec.min_frames, spec.fixed_frames)
        _check_dim(self.name, "crop_size", "px crops", crop_size, spec.min_size, spec.fixed_size)
        if clip_len % spec.frame_multiple:
            raise ValueError(
                f"Backbone '{self.name}' only runs on a multiple of {spec.frame_multiple} frames, got "
                f"clip_len={clip_len}; set the data option clip_len to {spec.frame_multiple}, "
                f"{2 * spec.frame_multiple}, ..."
            )


def _check_dim(name: str, option: str, unit: str, value: int, minimum: int, fixed: int | None) -> None:
    if fixed is not None and value != fixed:
        raise ValueError(
            f"Backbone '{name}' only runs on exactly {fixed} {unit}, got {option}={value}; "
            f"set the data option {option}={fixed}."
        )
    if value < minimum:
        raise ValueError(
            f"Backbone '{name}' needs at least {minimum} {unit}, got {option}={value}; "
            f"increase the data option {option} to >= {minimum}."
        )


def register_backbone(
    name: str, spec: BackboneSpec, head: str = "fc", source_head: str | None = None
) -> Callable[[Builder], Builder]:
    """Decorator registering ``builder() -> nn.Module`` (a model with its original classifier in ``head``).
    ``source_head``: the Linear's name in the model's checkpoints when ``head`` wraps it (e.g. a
    Sequential(Dropout, Linear) ``classifier`` -> "classifier.1"), so a head of the same class count loads."""

    return register_into(_REGISTRY, "backbone", name,
                         lambda builder: _Entry(builder, spec, head, source_head or head))


def list_backbones() -> list[str]:
    return sorted(_REGISTRY)


def _entry(name: str) -> _Entry:
    if name not in _REGISTRY:
        raise unknown_name_error("backbone", name, _REGISTRY, "--model.init_args.backbone")
    return _REGISTRY[name]


def get_backbone_spec(name: str) -> BackboneSpec:
    return _entry(name).spec


def create_backbone(
    name: str, num_classes: int, pretrained: str | None = None, dropout: float = 0.0
) -> Backbone:
    """Build backbone ``name`` with a new ``num_classes`` head, then load ``pretrained`` into it.

    ``pretrained``: None (random init), a published name ("kinetics400", "ig65m_32", ...: see
    :mod:`dlkdd.backbones.published`, downloaded into the torch hub cache when not there) or a local
    checkpoint path (see :func:`dlkdd.backbones.weights.load_backbone_weights`). The training modules build
    with ``pretrained=None`` and call :func:`load_pretrained` when a run starts, so reading a config
    never needs the network.
    """
    entry = _entry(name)
    check_pretrained(name, pretrained)
    model = entry.builder()
    # The classifier becomes the task head of the Backbone, so the net must return pooled features.
    setattr(model, entry.head, nn.Identity())
    backbone = Backbone(name, entry.spec, model, num_classes, dropout)
    if pretrained is not None:
        load_pretrained(backbone, pretrained)
    return backbone


def check_pretrained(name: str, pretrained: str | None) -> None:
    """Refuse, without network or files, a published name the backbone has no weights for."""
    if is_published(pretrained):
        published_weights(pretrained, name, _entry(name).spec.kinetics_weights)


def load_pretrained(backbone: Backbone, pretrained: str) -> LoadReport:
    """Load ``pretrained`` (a published name, fetched when not cached, or a local path) into ``backbone``."""
    entry = _entry(backbone.name)
    path = pretrained
    if is_published(pretrained):
        path = fetch(published_weights(pretrained, backbone.name, entry.spec.kinetics_weights))
    return load_backbone_weights(backbone, path, source_head=entry.source_head)
