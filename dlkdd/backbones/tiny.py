"""Tiny 3D CNNs that train in seconds on a CPU, for tests, smoke runs and distillation experiments.

Most layers keep temporal kernels of size 3 so the nets can tell motion direction apart (a clip and its
time-reversed copy contain the same frames), which tests of temporal augmentation and distillation rely on.
"""

from __future__ import annotations

from torch import Tensor, nn

from dlkdd.backbones.registry import BackboneSpec, register_backbone

Triple = tuple[int, int, int]


class TinyVideoNet(nn.Module):
    """``features`` -> global average pool -> ``fc``, the torchvision layout the registry expects."""

    def __init__(self, features: nn.Sequential, feature_dim: int, num_classes: int = 400):
        super().__init__()
        self.features = features
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.fc = nn.Linear(feature_dim, num_classes)  # replaced by the registry's task head

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.pool(self.features(x)).flatten(1))


def _conv_bn_relu(in_ch: int, out_ch: int, kernel: Triple, stride: Triple) -> nn.Sequential:
    padding = tuple(k // 2 for k in kernel)
    return nn.Sequential(
        nn.Conv3d(in_ch, out_ch, kernel, stride, padding, bias=False),
        nn.BatchNorm3d(out_ch),
        nn.ReLU(inplace=True),
    )


def _conv_2plus1d(in_ch: int, out_ch: int, spatial: int, stride: Triple) -> nn.Sequential:
    """A (1, k, k) spatial conv followed by a (3, 1, 1) temporal conv, each with BatchNorm and ReLU."""
    return nn.Sequential(
        _conv_bn_relu(in_ch, out_ch, (1, spatial, spatial), (1, stride[1], stride[2])),
        _conv_bn_relu(out_ch, out_ch, (3, 1, 1), (stride[0], 1, 1)),
    )


def _tiny_spec(feature_dim: int) -> BackboneSpec:
    return BackboneSpec(
        crop_size=56,
        mean=(0.5, 0.5, 0.5),
        std=(0.25, 0.25, 0.25),
        # Padded convs and adaptive pooling run on any clip; 16 px is the total spatial stride, below it the
        # last stage sees mostly padding.
        min_frames=1,
        min_size=16,
        feature_dim=feature_dim,
        last_stage="net.features",
    )


@register_backbone("tiny3d", _tiny_spec(128))
def tiny3d() -> nn.Module:
    """About 0.29 M parameters; 56 px -> 4x4 map, T frames -> ceil(T / 4)."""
    features = nn.Sequential(
        _conv_bn_relu(3, 16, (3, 5, 5), (1, 2, 2)),
        _conv_bn_relu(16, 32, (3, 3, 3), (1, 2, 2)),
        _conv_bn_relu(32, 64, (3, 3, 3), (2, 2, 2)),
        _conv_bn_relu(64, 128, (3, 3, 3), (2, 2, 2)),
    )
    return TinyVideoNet(features, 128)


@register_backbone("tiny_r2plus1d", _tiny_spec(192))
def tiny_r2plus1d() -> nn.Module:
    """About 0.37 M parameters; factorised like R(2+1)D, a bit wider than tiny3d."""
    features = nn.Sequential(
        _conv_2plus1d(3, 24, 5, (1, 2, 2)),
        _conv_2plus1d(24, 48, 3, (1, 2, 2)),
        _conv_2plus1d(48, 96, 3, (2, 2, 2)),
        _conv_2plus1d(96, 192, 3, (2, 2, 2)),
    )
    return TinyVideoNet(features, 192)
