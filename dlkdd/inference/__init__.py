"""Inference: one object that turns a trained checkpoint or an exported file (ONNX, TorchScript) into per-clip
probabilities with the checkpoint's own clip settings. `dlkdd predict`, the long/live-footage command and
export's verification all go through it; sources of frames feed it clips, sinks consume its results."""

from dlkdd.data.clip_spec import ClipSpec  # a model's `spec`, defined beside the DataModule
from dlkdd.inference.clip_model import (
    ClipModel,
    InferenceGraph,
    TorchClipModel,
    load_clip_model,
    register_clip_model_loader,
)
from dlkdd.inference.exported import OnnxClipModel, TorchScriptClipModel  # registers .onnx, .pt, .ts

__all__ = [
    "ClipModel",
    "ClipSpec",
    "InferenceGraph",
    "OnnxClipModel",
    "TorchClipModel",
    "TorchScriptClipModel",
    "load_clip_model",
    "register_clip_model_loader",
]
