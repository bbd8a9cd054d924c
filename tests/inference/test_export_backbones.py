"""Every registry backbone exports to ONNX and TorchScript and its exported logits match PyTorch's on the
CPU, at the smallest clip it allows, without pretrained weights, at a batch other than the traced one."""

from __future__ import annotations

import pytest
import torch

from dlkdd.backbones import list_backbones
from dlkdd.backbones.registry import get_backbone_spec
from dlkdd.data.clip_spec import ClipSpec
from dlkdd.inference import InferenceGraph, load_clip_model
from dlkdd.inference.export import export_graph
from dlkdd.models import TeacherModule

pytest.importorskip("onnxruntime", reason='the export extra: pip install -e ".[export]"')

# Tens of seconds each on 2 CPU cores even at their smallest clip (MViT and S3D only run at 16x224^2 and
# 13x209^2); still run in CI.
HEAVY = {"mvit_v2_s", "s3d", "swin3d_t", "r2plus1d_34"}
# The Efficient-3DCNNs widths (and ShuffleNet's groups) are one network each: one width per family exports.
OTHER_WIDTHS = {n for n in list_backbones() if n.startswith(("shufflenet3d_", "mobilenet3d_"))} - {
    "shufflenet3d_0.5x_g3", "shufflenet3d_v2_0.5x", "mobilenet3d_0.5x", "mobilenet3d_v2_0.45x"}


def smallest_clip(name: str) -> tuple[int, int]:
    spec = get_backbone_spec(name)
    return spec.fixed_frames or max(spec.min_frames, 2), spec.fixed_size or max(spec.min_size, 16)


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in HEAVY else n
                                  for n in list_backbones() if n not in OTHER_WIDTHS])
def test_the_backbone_exports_and_matches_pytorch(name, fmt, tmp_path):
    torch.manual_seed(0)
    frames, size = smallest_clip(name)
    module = TeacherModule(num_classes=5, backbone=name, view="original").eval()  # pretrained=None
    graph = InferenceGraph(module, probabilities=False)  # logits: a sharper check than near-uniform softmax
    spec = ClipSpec(clip_len=frames, frame_stride=1, frame_size=(size, size), crop_size=size,
                    class_names=list("abcde"), backbone=name)
    path = export_graph(graph, spec, fmt, tmp_path / ("model.onnx" if fmt == "onnx" else "model.pt"))
    exported = load_clip_model(path)
    assert exported.spec == spec and exported.output == "logits"
    video = torch.rand(1 if name in HEAVY else 3, 3, frames, size, size)  # traced at batch 2
    with torch.inference_mode():
        expected = graph(video)
    torch.testing.assert_close(exported.run_graph(video), expected, atol=1e-4, rtol=1e-4)
