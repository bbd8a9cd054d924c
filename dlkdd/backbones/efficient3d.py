"""The Efficient-3DCNNs family: 3D-ShuffleNet v1/v2 and 3D-MobileNet v1/v2 at their width multipliers.

Köpüklü et al., "Resource Efficient 3D Convolutional Neural Networks" (ICCVW 2019), github
okankop/Efficient-3DCNNs ``models/{shufflenet,shufflenetv2,mobilenet,mobilenetv2}.py`` (MIT). Built
module for module like the release (same attribute names, down to ShuffleNetV2's ``banch1``/``banch2``), so
its checkpoints load exactly: a dict(epoch, arch, state_dict, optimizer, best_prec1) whose keys carry
DataParallel's ``module.`` prefix, e.g. ``pretrained: jester_shufflenet_0.5x_G3_RGB_16_best.pth``. The
classifier is ``classifier`` = Sequential(Dropout(0.2), Linear): its Linear (``classifier.1``) becomes the
Backbone's head (loaded when the class count matches); the release's Dropout(0.2) is the Backbone's
``dropout`` option.

Input: the release feeds pixel values in [0, 255] minus the ActivityNet mean, not divided by a std
(``--norm_value 1``, ``--mean_dataset activitynet``, no ``--std_norm``); the specs below do the same on
[0, 1] clips (mean / 255, std 1 / 255). The only change to the forward is global average pooling by
AdaptiveAvgPool3d instead of ``F.avg_pool3d(x, x.size()[-3:])`` (the same numbers; it also exports).

Names: ``shufflenet3d_<w>x_g<groups>``, ``shufflenet3d_v2_<w>x``, ``mobilenet3d_<w>x``,
``mobilenet3d_v2_<w>x`` with the paper's width multipliers (ShuffleNet v1 with groups 3 at every width, as
the paper and release; groups 1, 2, 4 and 8 at 1.0x, ShuffleNet's own group ablation).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from dlkdd.backbones.registry import BackboneSpec, register_backbone

# ActivityNet mean of the release's mean.py, for pixels in [0, 255]; no std division (std 1 / 255 on [0, 1]).
ACTIVITYNET_MEAN = (114.7748 / 255, 107.7354 / 255, 99.4750 / 255)
UNIT_STD = (1 / 255, 1 / 255, 1 / 255)
Triple = tuple[int, int, int]


def _conv_bn(inp: int, oup: int, stride: Triple, act: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    conv = nn.Conv3d(inp, oup, 3, stride, 1, bias=False)
    return nn.Sequential(conv, nn.BatchNorm3d(oup), act(inplace=True))


def _pointwise_bn(inp: int, oup: int, act: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(inp, oup, 1, 1, 0, bias=False), nn.BatchNorm3d(oup), act(inplace=True))


def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    """(B, g * c, T, H, W) -> interleave the g groups' channels (ShuffleNet's channel shuffle)."""
    b, channels, t, h, w = x.shape
    return x.view(b, groups, channels // groups, t, h, w).transpose(1, 2).reshape(b, channels, t, h, w)


class _Classifier(nn.Module):
    """``features`` -> global average pool -> ``classifier`` (Dropout, Linear), the release's layout."""

    def __init__(self, feature_dim: int, num_classes: int):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(feature_dim, num_classes))

    def _features(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.pool(self._features(x)).flatten(1))


# --- 3D-ShuffleNet (v1) ----------------------------------------------------------------------------------

SHUFFLENET_PLANES = {1: (24, 144, 288, 567), 2: (24, 200, 400, 800), 3: (24, 240, 480, 960),
                     4: (24, 272, 544, 1088), 8: (24, 384, 768, 1536)}


class ShuffleBottleneck(nn.Module):
    """Grouped 1x1x1 -> shuffle -> depthwise 3x3x3 -> grouped 1x1x1; a stride-2 unit concatenates an
    average-pooled shortcut (which needs an even clip length at each of the three stages)."""

    def __init__(self, in_planes: int, out_planes: int, stride: int, groups: int):
        super().__init__()
        self.stride, self.groups = stride, groups
        mid_planes = out_planes // 4
        if stride == 2:
            out_planes -= in_planes  # the shortcut's channels are concatenated
        first_groups = 1 if in_planes == 24 else groups  # the release's rule (24: the 1.0x stem width)
        self.conv1 = nn.Conv3d(in_planes, mid_planes, 1, groups=first_groups, bias=False)
        self.bn1 = nn.BatchNorm3d(mid_planes)
        self.conv2 = nn.Conv3d(mid_planes, mid_planes, 3, stride, 1, groups=mid_planes, bias=False)
        self.bn2 = nn.BatchNorm3d(mid_planes)
        self.conv3 = nn.Conv3d(mid_planes, out_planes, 1, groups=groups, bias=False)
        self.bn3 = nn.BatchNorm3d(out_planes)
        self.relu = nn.ReLU(inplace=True)
        if stride == 2:
            self.shortcut = nn.AvgPool3d(kernel_size=(2, 3, 3), stride=2, padding=(0, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        out = channel_shuffle(self.relu(self.bn1(self.conv1(x))), self.groups)
        out = self.bn3(self.conv3(self.bn2(self.conv2(out))))
        return self.relu(torch.cat([out, self.shortcut(x)], 1) if self.stride == 2 else out + x)


class ShuffleNet3d(_Classifier):
    def __init__(self, groups: int = 3, width_mult: float = 1.0, num_classes: int = 400):
        planes = [int(p * width_mult) for p in SHUFFLENET_PLANES[groups]]
        super().__init__(planes[3], num_classes)
        self.conv1 = _conv_bn(3, planes[0], (1, 2, 2))
        self.maxpool = nn.MaxPool3d(kernel_size=3, stride=2, padding=1)
        in_planes = planes[0]
        for i, (out_planes, blocks) in enumerate(zip(planes[1:], (4, 8, 4), strict=True), start=1):
            units = [ShuffleBottleneck(in_planes if j == 0 else out_planes, out_planes, 1 if j else 2, groups)
                     for j in range(blocks)]
            setattr(self, f"layer{i}", nn.Sequential(*units))
            in_planes = out_planes

    def _features(self, x: Tensor) -> Tensor:
        return self.layer3(self.layer2(self.layer1(self.maxpool(self.conv1(x)))))


# --- 3D-ShuffleNetV2 -------------------------------------------------------------------------------------

SHUFFLENET_V2_CHANNELS = {0.25: (24, 32, 64, 128, 1024), 0.5: (24, 48, 96, 192, 1024),
                          1.0: (24, 116, 232, 464, 1024), 1.5: (24, 176, 352, 704, 1024),
                          2.0: (24, 224, 488, 976, 2048)}


def _shufflev2_branch(inp: int, oup: int, stride: int) -> nn.Sequential:
    """1x1x1 -> depthwise 3x3x3 (stride) -> 1x1x1, the release's ``banch2``."""
    return nn.Sequential(
        nn.Conv3d(inp, oup, 1, 1, 0, bias=False), nn.BatchNorm3d(oup), nn.ReLU(inplace=True),
        nn.Conv3d(oup, oup, 3, stride, 1, groups=oup, bias=False), nn.BatchNorm3d(oup),
        nn.Conv3d(oup, oup, 1, 1, 0, bias=False), nn.BatchNorm3d(oup), nn.ReLU(inplace=True),
    )


class ShuffleV2Unit(nn.Module):
    """Stride 1: half the channels pass, half go through ``banch2``; stride 2: both halves come from the
    whole input (``banch1`` depthwise + 1x1x1, ``banch2``). Then a shuffle of the two halves."""

    def __init__(self, inp: int, oup: int, stride: int):
        super().__init__()
        self.stride = stride
        half = oup // 2
        if stride == 1:
            self.banch2 = _shufflev2_branch(half, half, 1)
        else:
            self.banch1 = nn.Sequential(
                nn.Conv3d(inp, inp, 3, stride, 1, groups=inp, bias=False), nn.BatchNorm3d(inp),
                nn.Conv3d(inp, half, 1, 1, 0, bias=False), nn.BatchNorm3d(half), nn.ReLU(inplace=True),
            )
            self.banch2 = _shufflev2_branch(inp, half, stride)

    def forward(self, x: Tensor) -> Tensor:
        if self.stride == 1:
            half = x.shape[1] // 2
            out = torch.cat((x[:, :half], self.banch2(x[:, half:])), 1)
        else:
            out = torch.cat((self.banch1(x), self.banch2(x)), 1)
        return channel_shuffle(out, 2)


class ShuffleNet3dV2(_Classifier):
    def __init__(self, width_mult: float = 1.0, num_classes: int = 600):
        channels = SHUFFLENET_V2_CHANNELS[width_mult]
        super().__init__(channels[-1], num_classes)
        self.conv1 = _conv_bn(3, channels[0], (1, 2, 2))
        self.maxpool = nn.MaxPool3d(kernel_size=3, stride=2, padding=1)
        units, inp = [], channels[0]
        for oup, repeats in zip(channels[1:4], (4, 8, 4), strict=True):
            units += [ShuffleV2Unit(inp if i == 0 else oup, oup, 2 if i == 0 else 1) for i in range(repeats)]
            inp = oup
        self.features = nn.Sequential(*units)
        self.conv_last = _pointwise_bn(inp, channels[-1])

    def _features(self, x: Tensor) -> Tensor:
        return self.conv_last(self.features(self.maxpool(self.conv1(x))))


# --- 3D-MobileNet (v1) -----------------------------------------------------------------------------------


class DepthwiseSeparable(nn.Module):
    """Depthwise 3x3x3 (stride) -> BN -> ReLU -> pointwise 1x1x1 -> BN -> ReLU (the release's ``Block``)."""

    def __init__(self, in_planes: int, out_planes: int, stride: int | Triple = 1):
        super().__init__()
        self.conv1 = nn.Conv3d(in_planes, in_planes, 3, stride, 1, groups=in_planes, bias=False)
        self.bn1 = nn.BatchNorm3d(in_planes)
        self.conv2 = nn.Conv3d(in_planes, out_planes, 1, 1, 0, bias=False)
        self.bn2 = nn.BatchNorm3d(out_planes)

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))


class MobileNet3d(_Classifier):
    # (channels, repeats, stride of the first)
    STAGES = ((64, 1, 2), (128, 2, 2), (256, 2, 2), (512, 6, 2), (1024, 2, 1))

    def __init__(self, width_mult: float = 1.0, num_classes: int = 600):
        inp = int(32 * width_mult)
        layers: list[nn.Module] = [_conv_bn(3, inp, (1, 2, 2))]
        for channels, repeats, stride in self.STAGES:
            oup = int(channels * width_mult)
            layers += [DepthwiseSeparable(inp if i == 0 else oup, oup, stride if i == 0 else 1)
                       for i in range(repeats)]
            inp = oup
        super().__init__(inp, num_classes)
        self.features = nn.Sequential(*layers)

    def _features(self, x: Tensor) -> Tensor:
        return self.features(x)


# --- 3D-MobileNetV2 --------------------------------------------------------------------------------------


class InvertedResidual3d(nn.Module):
    """[1x1x1 expand] -> depthwise 3x3x3 -> linear 1x1x1, residual when the shape is kept (ReLU6)."""

    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int):
        super().__init__()
        hidden = round(inp * expand_ratio)
        self.use_res_connect = stride == 1 and inp == oup
        expand = [] if expand_ratio == 1 else list(_pointwise_bn(inp, hidden, nn.ReLU6))
        self.conv = nn.Sequential(
            *expand,
            nn.Conv3d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), nn.BatchNorm3d(hidden),
            nn.ReLU6(inplace=True),
            nn.Conv3d(hidden, oup, 1, 1, 0, bias=False), nn.BatchNorm3d(oup),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNet3dV2(_Classifier):
    # (expansion, channels, repeats, stride of the first)
    STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
              (6, 320, 1, 1))

    def __init__(self, width_mult: float = 1.0, num_classes: int = 600):
        inp = int(32 * width_mult)
        last = int(1280 * width_mult) if width_mult > 1.0 else 1280
        layers: list[nn.Module] = [_conv_bn(3, inp, (1, 2, 2), nn.ReLU6)]
        for expansion, channels, repeats, stride in self.STAGES:
            oup = int(channels * width_mult)
            layers += [InvertedResidual3d(inp if i == 0 else oup, oup, stride if i == 0 else 1, expansion)
                       for i in range(repeats)]
            inp = oup
        layers.append(_pointwise_bn(inp, last, nn.ReLU6))
        super().__init__(last, num_classes)
        self.features = nn.Sequential(*layers)
        self._initialize_weights()

    def _initialize_weights(self) -> None:
        # The release's own initialisation (He-normal by fan-out, Linear N(0, 0.01)), for from-scratch runs.
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.normal_(m.weight, 0, math.sqrt(2.0 / (math.prod(m.kernel_size) * m.out_channels)))
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def _features(self, x: Tensor) -> Tensor:
        return self.features(x)


# --- registry entries ------------------------------------------------------------------------------------


def _spec(feature_dim: int, last_stage: str, frame_multiple: int, min_size: int) -> BackboneSpec:
    return BackboneSpec(
        crop_size=112,  # the release trains all of them on 16 x 112 x 112 clips
        mean=ACTIVITYNET_MEAN,
        std=UNIT_STD,
        min_frames=frame_multiple,
        min_size=min_size,
        feature_dim=feature_dim,
        frame_multiple=frame_multiple,
        last_stage=last_stage,
    )


def _register(name: str, build, feature_dim: int, last_stage: str, shufflenet_v1: bool = False) -> None:
    # Padded convs and global pooling run on any clip, except ShuffleNet v1's pooled shortcut: it halves the
    # clip length three times after the max-pool's halving, and only 16, 32, ... frames (15, 31, ... too)
    # give it and the strided convolution the same length; its 3x3 pooling needs 33 px (both measured).
    spec = _spec(feature_dim, last_stage, 16, 33) if shufflenet_v1 else _spec(feature_dim, last_stage, 1, 1)
    register_backbone(name, spec, head="classifier", source_head="classifier.1")(build)


# Width in the names as the release writes it (str(width_mult): 0.5, 1.0, 0.45).
for _w in (0.5, 1.0, 1.5, 2.0):
    _register(f"shufflenet3d_{_w}x_g3", lambda w=_w: ShuffleNet3d(3, w),
              int(SHUFFLENET_PLANES[3][3] * _w), "net.layer3", shufflenet_v1=True)
for _g in (1, 2, 4, 8):
    _register(f"shufflenet3d_1.0x_g{_g}", lambda g=_g: ShuffleNet3d(g, 1.0),
              SHUFFLENET_PLANES[_g][3], "net.layer3", shufflenet_v1=True)
for _w in SHUFFLENET_V2_CHANNELS:
    _register(f"shufflenet3d_v2_{_w}x", lambda w=_w: ShuffleNet3dV2(w),
              SHUFFLENET_V2_CHANNELS[_w][-1], "net.conv_last")
for _w in (0.5, 1.0, 1.5, 2.0):
    _register(f"mobilenet3d_{_w}x", lambda w=_w: MobileNet3d(w), int(1024 * _w), "net.features")
for _w in (0.2, 0.45, 0.7, 1.0):
    _register(f"mobilenet3d_v2_{_w}x", lambda w=_w: MobileNet3dV2(w),
              int(1280 * _w) if _w > 1.0 else 1280, "net.features")
