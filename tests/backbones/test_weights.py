"""A checkpoint written by DarkLight (Ticuby/Darklight-Pytorch) loads onto the registry's r2plus1d_34.

DarkLight builds `features = nn.Sequential(*list(r2plus1d_34_32_ig65m.children())[:-2])` (stem, layer1-4
as features.0..4), its classifier `fc_action = nn.Linear(512, num_classes)`, wraps the model in
nn.DataParallel on several GPUs (`module.`) and saves {'epoch', 'arch', 'state_dict', 'best_prec1',
'best_loss', 'optimizer'}. The state_dict here is built in exactly that layout."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from torch import nn

from dlkdd.backbones import create_backbone, load_backbone_weights

ATTENTION = "self_attention.bert.transformer_blocks.0.attention.linear_layers.0.weight"
LAYOUT = {"stem.": "features.0.", **{f"layer{k}.": f"features.{k}." for k in range(1, 5)}}


def _darklight_checkpoint(path: Path, data_parallel: bool, attention: bool) -> dict[str, torch.Tensor]:
    """A trained-looking DarkLight model (random weights, non-default BatchNorm statistics): its state_dict
    in DarkLight's names, saved as darklight.py saves it; returns the tensors in torchvision's names."""
    torch.manual_seed(0)
    source = create_backbone("r2plus1d_34", num_classes=11)
    for module in source.modules():
        if isinstance(module, nn.BatchNorm3d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    torchvision_names = {k.removeprefix("net."): v for k, v in source.state_dict().items()}
    darklight = {}
    for key, tensor in torchvision_names.items():
        if key.startswith("head."):
            darklight["fc_action." + key.removeprefix("head.")] = tensor
        else:
            old = next(p for p in LAYOUT if key.startswith(p))
            darklight[LAYOUT[old] + key.removeprefix(old)] = tensor
    if attention:  # dark_light's BERT-style self-attention over the 8 time steps (no dlkdd counterpart)
        darklight[ATTENTION] = torch.zeros(8, 8)
    prefix = "module." if data_parallel else ""
    state_dict = {prefix + k: v for k, v in darklight.items()}
    torch.save({"epoch": 42, "arch": "dark_light", "state_dict": state_dict,
                "best_prec1": 94.04, "best_loss": 0.3, "optimizer": {"state": {}, "param_groups": []}}, path)
    return torchvision_names


@pytest.mark.parametrize("data_parallel", [True, False], ids=["module.", "bare"])
def test_a_darklight_checkpoint_loads_with_nothing_missing(tmp_path, data_parallel, caplog):
    path = tmp_path / "model_best.pth.tar"
    expected = _darklight_checkpoint(path, data_parallel, attention=False)

    target = create_backbone("r2plus1d_34", num_classes=11)
    with caplog.at_level(logging.INFO, logger="dlkdd.backbones.weights"):
        report = load_backbone_weights(target, path)

    assert report.darklight and not report.missing and not report.unexpected and not report.skipped
    assert report.prefix == ("module." if data_parallel else "")
    state = target.state_dict()
    assert all(torch.equal(state[k if k.startswith("head.") else "net." + k], v) for k, v in expected.items())
    assert [r.levelname for r in caplog.records] == ["INFO"] and "DarkLight layout" in caplog.text


def test_darklights_attention_and_another_class_count_are_reported(tmp_path, caplog):
    path = tmp_path / "model_best.pth.tar"
    _darklight_checkpoint(path, data_parallel=True, attention=True)

    target = create_backbone("r2plus1d_34", num_classes=5)  # fine-tuning the 11-class model for 5 classes
    with caplog.at_level(logging.INFO, logger="dlkdd.backbones.weights"):
        report = load_backbone_weights(target, path)

    assert report.head_replaced == ["module.fc_action.weight", "module.fc_action.bias"]
    assert report.source_classes == 11 and not report.missing_backbone
    assert report.unexpected == ["module." + ATTENTION]
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "self_attention" in warnings[0]
