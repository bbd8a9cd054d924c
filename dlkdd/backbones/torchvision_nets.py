"""torchvision video classifiers, plus R(2+1)D-34 in the layout of the Caffe2/VMZ IG-65M checkpoints.

Minimum inputs were measured with batch 1 in eval mode (tests run every entry at its minimum).
"""

from __future__ import annotations

from torch import nn
from torchvision.models import video
from torchvision.models.video.resnet import BasicBlock, Conv2Plus1D, R2Plus1dStem, VideoResNet

from dlkdd.backbones.registry import BackboneSpec, register_backbone

KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _resnet_spec(kinetics_weights: str | None) -> BackboneSpec:
    # Adaptive pooling and padded convs make the video ResNets run on any clip down to 1 frame of 1 px.
    return BackboneSpec(
        crop_size=112,
        mean=KINETICS_MEAN,
        std=KINETICS_STD,
        min_frames=1,
        min_size=1,
        feature_dim=512,
        last_stage="net.layer4",
        kinetics_weights=kinetics_weights,
    )


@register_backbone("r3d_18", _resnet_spec("R3D_18_Weights.KINETICS400_V1"))
def r3d_18() -> nn.Module:
    return video.r3d_18()


@register_backbone("mc3_18", _resnet_spec("MC3_18_Weights.KINETICS400_V1"))
def mc3_18() -> nn.Module:
    return video.mc3_18()


@register_backbone("r2plus1d_18", _resnet_spec("R2Plus1D_18_Weights.KINETICS400_V1"))
def r2plus1d_18() -> nn.Module:
    return video.r2plus1d_18()


@register_backbone("r2plus1d_34", _resnet_spec(None))
def r2plus1d_34() -> nn.Module:
    """R(2+1)D-34 matching the IG-65M / Kinetics checkpoints of VMZ as ported by ig65m-pytorch.

    torchvision has no weights for it: pass the converted checkpoint as ``pretrained=<path>``.
    """
    model = VideoResNet(
        block=BasicBlock, conv_makers=[Conv2Plus1D] * 4, layers=[3, 4, 6, 3], stem=R2Plus1dStem
    )
    # torchvision's BasicBlock sizes the (2+1)D bottleneck of BOTH convs of a block from the block's input
    # width, so in the first, widening block of layers 2-4 conv2 gets e.g. 230 mid-channels where Caffe2
    # computes 288 from conv2's own 128->128 width (VMZ issue 89, torchvision issue 1265). Without this the
    # IG-65M weights do not fit.
    model.layer2[0].conv2[0] = Conv2Plus1D(128, 128, 288)
    model.layer3[0].conv2[0] = Conv2Plus1D(256, 256, 576)
    model.layer4[0].conv2[0] = Conv2Plus1D(512, 512, 1152)
    # Caffe2 trained with BatchNorm eps 1e-3 (PyTorch default 1e-5); the running variances in the checkpoint
    # only give the right activations with the same eps. The port also sets momentum=0.9, which is Caffe2's
    # convention (weight of the OLD statistics); PyTorch's default 0.1 is the same thing, so it stays.
    for module in model.modules():
        if isinstance(module, nn.BatchNorm3d):
            module.eps = 1e-3
    return model


@register_backbone(
    "s3d",
    BackboneSpec(
        crop_size=224,
        mean=KINETICS_MEAN,
        std=KINETICS_STD,
        # Its fixed AvgPool3d((2, 7, 7)) needs a 2x7x7 map after 8x temporal / 32x spatial downsampling:
        # measured 13 frames and 209 px (torchvision's meta states the looser 14 and 224).
        min_frames=13,
        min_size=209,
        feature_dim=1024,
        last_stage="net.features",
        kinetics_weights="S3D_Weights.KINETICS400_V1",
    ),
    # S3D's classifier (Dropout, 1x1x1 Conv3d) runs before the mean over (T, H, W); as nn.Identity the
    # forward returns that mean of the pooled 1024-channel map.
    head="classifier",
)
def s3d() -> nn.Module:
    return video.s3d()


@register_backbone(
    "mvit_v2_s",
    BackboneSpec(
        crop_size=224,
        mean=(0.45, 0.45, 0.45),
        std=(0.225, 0.225, 0.225),
        # Its positional embeddings are built for a 16x224x224 clip, nothing else runs.
        min_frames=16,
        min_size=224,
        feature_dim=768,
        fixed_frames=16,
        fixed_size=224,
        last_stage="net.norm",  # tokens (B, 1 + 8*7*7, 768), class token first
        feature_layout="tokens",
        token_grid=(8, 7, 7),
        kinetics_weights="MViT_V2_S_Weights.KINETICS400_V1",
    ),
    head="head",
)
def mvit_v2_s() -> nn.Module:
    return video.mvit_v2_s()


@register_backbone(
    "swin3d_t",
    BackboneSpec(
        crop_size=224,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        # Patch embedding, windows and patch merging all pad, so any clip runs.
        min_frames=1,
        min_size=1,
        feature_dim=768,
        last_stage="net.norm",  # channels-last map (B, T', H', W', 768)
        feature_layout="BTHWC",
        kinetics_weights="Swin3D_T_Weights.KINETICS400_V1",
    ),
    head="head",
)
def swin3d_t() -> nn.Module:
    return video.swin3d_t()
