"""Runners of exported files: ONNX (onnxruntime) and TorchScript (torch.jit), each a ClipModel whose spec
is read back from the file's own metadata, so `load_clip_model("student.onnx")` needs nothing else.

Both formats carry the same string metadata (ONNX `metadata_props`; TorchScript `_extra_files`): the
ClipSpec fields, what the graph returns ("probabilities" or "logits"), its input, and the dlkdd version.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import fields
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

import dlkdd
from dlkdd.data.clip_spec import ClipSpec
from dlkdd.inference.clip_model import ClipModel, register_clip_model_loader

EXPORT_EXTRA = 'pip install -e ".[export]"'
INPUT = "float32 (N, 3, clip_len, crop_size, crop_size) RGB in [0, 1], N dynamic"
SPEC_KEYS = tuple(f.name for f in fields(ClipSpec))
METADATA_KEYS = (*SPEC_KEYS, "output", "input", "dlkdd_version")
OPTIONAL_KEYS = ("backbone", "event_settings")  # a graph without a registry backbone; an older file
ONNX_SUFFIX = ".onnx"
TORCHSCRIPT_SUFFIXES = (".pt", ".ts")


def file_metadata(spec: ClipSpec, output: str) -> dict[str, str]:
    """The metadata an exported file carries: strings as they are, everything else as JSON."""
    values = {**spec.to_dict(), "output": output, "input": INPUT, "dlkdd_version": dlkdd.__version__}
    return {key: value if isinstance(value, str) else json.dumps(value) for key, value in values.items()}


def spec_from_metadata(metadata: dict[str, str], path: Path) -> tuple[ClipSpec, str]:
    """The ClipSpec and the output kind back from a file's metadata."""
    missing = [key for key in METADATA_KEYS if not metadata.get(key)]
    if [key for key in missing if key not in OPTIONAL_KEYS]:
        raise ValueError(f"{path} was not written by `dlkdd export` (its metadata lacks "
                         f"{', '.join(missing)}); export the checkpoint with "
                         "`dlkdd export --ckpt_path CKPT --output FILE`.")
    strings = {f.name for f in fields(ClipSpec) if f.type == "str"}
    values = {key: metadata[key] if key in strings else json.loads(metadata[key])
              for key in SPEC_KEYS if metadata.get(key)}
    return ClipSpec.from_dict(values), metadata["output"]


def require(module: str, what: str):
    """Import an optional dependency of the export extra, or say in one line how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        raise ValueError(f"{what} needs the {module} package, which is not installed: "
                         f"run {EXPORT_EXTRA} (or pip install onnx onnxruntime).") from err


def existing_export(path: str | Path, kind: str, fmt: str) -> Path:
    """`path` as a Path, or an error saying how to write the missing file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such {kind} file. Write one with `dlkdd export --ckpt_path "
                                f"CKPT --format {fmt} --output {path.name}`.")
    return path


class ExportedClipModel(ClipModel):
    """An exported graph: its input is the float clip, its output probabilities or logits."""

    output: str = "probabilities"

    def run(self, video: Tensor) -> Tensor:
        out = self.run_graph(video)
        return out.softmax(dim=-1) if self.output == "logits" else out

    def run_graph(self, video: Tensor) -> Tensor:
        raise NotImplementedError


class OnnxClipModel(ExportedClipModel):
    """An ONNX file in onnxruntime (the CUDA provider on device "cuda", when onnxruntime-gpu has it)."""

    def __init__(self, path: str | Path, device: str | torch.device = "cpu") -> None:
        ort = require("onnxruntime", "Running an ONNX file")
        path = existing_export(path, "ONNX", "onnx")
        self.device = torch.device(device)
        providers = ["CPUExecutionProvider"]
        if self.device.type == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise ValueError(f"{path}: device cuda asked for, but this onnxruntime has no CUDA provider; "
                                 "pip install onnxruntime-gpu, or run on --device cpu.")
            providers.insert(0, "CUDAExecutionProvider")
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: no notes about nodes placed on the CPU
        # No busy-waiting of onnxruntime's threads between calls: they would take the CPU from the
        # loader's decoding workers (and from whatever else runs between two batches).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), options, providers=providers)
        metadata = self.session.get_modelmeta().custom_metadata_map
        self.spec, self.output = spec_from_metadata(metadata, path)
        graph_input = self.session.get_inputs()[0]
        self.input_name = graph_input.name
        self.input_dtype = np.float16 if graph_input.type == "tensor(float16)" else np.float32  # fp16 files

    def run_graph(self, video: Tensor) -> Tensor:
        array = np.ascontiguousarray(video.detach().cpu().numpy(), dtype=self.input_dtype)
        return torch.from_numpy(self.session.run(None, {self.input_name: array})[0])


class TorchScriptClipModel(ExportedClipModel):
    """A TorchScript file in torch.jit, on the device it is loaded to."""

    def __init__(self, path: str | Path, device: str | torch.device = "cpu") -> None:
        path = existing_export(path, "TorchScript", "torchscript")
        self.device = torch.device(device)
        extra = dict.fromkeys(METADATA_KEYS, "")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # torch.jit's deprecation note, on every load
                self.graph = torch.jit.load(str(path), map_location=self.device, _extra_files=extra).eval()
        except RuntimeError as err:
            raise ValueError(f"{path} is not a TorchScript file ({err}).") from err
        metadata = {key: v.decode() if isinstance(v, bytes) else v for key, v in extra.items()}
        self.spec, self.output = spec_from_metadata(metadata, path)

    def run_graph(self, video: Tensor) -> Tensor:
        with torch.no_grad():
            return self.graph(video.to(self.device))  # float32 (as `prepare` makes), or fp16 for an fp16 file


register_clip_model_loader(ONNX_SUFFIX, OnnxClipModel)
for _suffix in TORCHSCRIPT_SUFFIXES:
    register_clip_model_loader(_suffix, TorchScriptClipModel)
