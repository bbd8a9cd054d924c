"""Video backbones shared by teacher and student: ``create_backbone(name, num_classes, pretrained)``."""

# Importing the entry modules fills the registry.
from dlkdd.backbones import efficient3d, tiny, torchvision_nets  # noqa: F401
from dlkdd.backbones.features import captured_output, forward_with_features, stage_channels, stage_name
from dlkdd.backbones.published import IG65M, KINETICS400, kinetics_weights_file
from dlkdd.backbones.registry import (
    Backbone,
    BackboneOutput,
    BackboneSpec,
    check_pretrained,
    create_backbone,
    get_backbone_spec,
    list_backbones,
    load_pretrained,
    register_backbone,
)
from dlkdd.backbones.weights import LoadReport, load_backbone_weights

__all__ = [
    "IG65M",
    "KINETICS400",
    "Backbone",
    "BackboneOutput",
    "BackboneSpec",
    "LoadReport",
    "captured_output",
    "check_pretrained",
    "create_backbone",
    "forward_with_features",
    "get_backbone_spec",
    "kinetics_weights_file",
    "list_backbones",
    "load_backbone_weights",
    "load_pretrained",
    "register_backbone",
    "stage_channels",
    "stage_name",
]
