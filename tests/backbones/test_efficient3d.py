"""Efficient-3DCNNs backbones: the release's checkpoint layout loads exactly, the real Jester file too."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from dlkdd.backbones import Backbone, create_backbone, list_backbones, load_backbone_weights
from tests.conftest import shared_file

JESTER = "weights/jester_shufflenet_0.5x_G3_RGB_16_best.pth"

# Keys, shapes and key counts of the release's own models (okankop/Efficient-3DCNNs models/*.py, 27 classes)
# as DataParallel saves them: our modules must carry exactly these names.
RELEASE_KEYS = {  # name: (key count, some keys with their shapes, the release's `arch`)
    "shufflenet3d_0.5x_g3": (296, {"module.layer1.0.conv1.weight": (30, 4, 1, 1, 1),
                                   "module.layer3.3.conv3.weight": (480, 40, 1, 1, 1)}, "shufflenet"),
    "shufflenet3d_v2_0.5x": (338, {"module.features.0.banch1.0.weight": (24, 1, 3, 3, 3),
                                   "module.conv_last.0.weight": (1024, 192, 1, 1, 1)}, "shufflenetv2"),
    "mobilenet3d_0.5x": (164, {"module.features.1.conv1.weight": (16, 1, 3, 3, 3),
                               "module.features.13.conv2.weight": (512, 512, 1, 1, 1)}, "mobilenet"),
    "mobilenet3d_v2_0.45x": (314, {"module.features.1.conv.0.weight": (14, 1, 3, 3, 3),
                                   "module.features.18.0.weight": (1280, 144, 1, 1, 1)}, "mobilenetv2"),
}


def _release_checkpoint(source: Backbone, arch: str, path: Path) -> Path:
    """What the release's main.py saves: dict(epoch, arch, state_dict, optimizer, best_prec1), keys under
    DataParallel's ``module.``, its classifier a Sequential(Dropout, Linear), the legacy (non-zip) pickle."""
    state = {f"module.{k}": v for k, v in source.net.state_dict().items()}
    state |= {f"module.classifier.1.{k}": v for k, v in source.head.state_dict().items()}
    optimizer = {"state": {}, "param_groups": [{"lr": 0.1, "params": [0, 1]}]}
    checkpoint = {"epoch": 67, "arch": arch, "state_dict": state, "optimizer": optimizer, "best_prec1": 89.2}
    torch.save(checkpoint, path, _use_new_zipfile_serialization=False)
    return path


@pytest.mark.parametrize("name", sorted(RELEASE_KEYS))
def test_release_layout_loads_every_tensor(name: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    source = create_backbone(name, 27)
    source(torch.rand(2, 3, 16, 48, 48))  # training mode: BatchNorm statistics move off their defaults
    count, keys, arch = RELEASE_KEYS[name]
    path = _release_checkpoint(source.eval(), arch, tmp_path / f"jester_{arch}_RGB_16_best.pth")
    state = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
    assert len(state) == count and {k: tuple(state[k].shape) for k in keys} == keys

    torch.manual_seed(1)  # another random init, so equal outputs prove the load
    same_classes = create_backbone(name, 27, pretrained=str(path)).eval()
    new_head = create_backbone(name, 6).eval()
    report = load_backbone_weights(new_head, path, source_head="classifier.1")

    assert report.prefix == "module." and not report.missing_backbone and not report.unexpected
    assert report.missing == ["head.weight", "head.bias"] and report.source_classes == 27
    video = torch.rand(1, 3, 16, 48, 48)
    with torch.no_grad():
        expected = source(video)
        assert torch.equal(same_classes(video).logits, expected.logits)  # the 27-class head loads too
        assert torch.equal(new_head(video).features, expected.features)


def test_real_jester_shufflenet_loads_with_nothing_missing(caplog) -> None:
    path = shared_file(JESTER)
    with caplog.at_level(logging.INFO, logger="dlkdd.backbones.weights"):
        backbone = create_backbone("shufflenet3d_0.5x_g3", num_classes=6, pretrained=str(path))
    report = load_backbone_weights(backbone, path, source_head="classifier.1")

    assert report.prefix == "module." and len(report.loaded) == 294 and not report.unexpected
    assert not report.missing_backbone and not report.skipped and report.source_classes == 27
    assert "head is for 27 classes" in caplog.text and "WARNING" not in caplog.text
    # The Jester features are not those of a random net: BatchNorm statistics came from 148k videos.
    assert not torch.equal(backbone.net.layer3[3].bn3.running_var, torch.ones(480))


def test_shufflenet_v1_asks_for_a_multiple_of_16_frames() -> None:
    backbone = create_backbone("shufflenet3d_0.5x_g3", num_classes=6)
    backbone.check_input(32, 112)
    with pytest.raises(ValueError, match=r"multiple of 16 frames.*clip_len=24.*clip_len to 16, 32"):
        backbone.check_input(24, 112)
    with torch.no_grad(), pytest.raises(RuntimeError):  # what the check saves the user from
        backbone.eval()(torch.rand(1, 3, 24, 48, 48))


def test_the_family_is_registered_with_the_papers_widths() -> None:
    names = set(list_backbones())
    assert {f"shufflenet3d_{w}x_g3" for w in (0.5, 1.0, 1.5, 2.0)} <= names
    assert {f"shufflenet3d_1.0x_g{g}" for g in (1, 2, 3, 4, 8)} <= names
    assert {f"shufflenet3d_v2_{w}x" for w in (0.25, 0.5, 1.0, 1.5, 2.0)} <= names
    assert {f"mobilenet3d_{w}x" for w in (0.5, 1.0, 1.5, 2.0)} <= names
    assert {f"mobilenet3d_v2_{w}x" for w in (0.2, 0.45, 0.7, 1.0)} <= names
