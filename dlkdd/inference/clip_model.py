"""ClipModel: a trained model as a function of raw dark clips, with the clip settings it was trained on.

The contract every runner (PyTorch here; TorchScript or ONNX Runtime for exported files) keeps:

    spec = model.spec                      # a dlkdd.data.ClipSpec: clip_len, frame_stride, frame_size, ...
    probs = model.probabilities(frames)    # uint8 (N, T, H, W, 3) frames decoded at spec.frame_size
                                           #  -> float (N, num_classes) softmax, on the CPU

`frames` are what the data pipeline's decoder yields (PyAV, resized in swscale to `spec.frame_size`), so
a window cut from a long recording and a clip of `dlkdd predict` go through the same preparation: float
in [0, 1], the centre `crop_size` crop, then the graph (the view the model was trained on, the
backbone's own normalisation inside, the network, softmax).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn

from dlkdd.checkpointing import read_checkpoint
from dlkdd.data.clip_spec import ClipSpec
from dlkdd.data.views import eval_crops, to_float_video
from dlkdd.enhance import create_enhancer


class InferenceGraph(nn.Module):
    """float (N, 3, T, crop, crop) dark clips in [0, 1] -> probabilities (or logits): the enhancer when
    the model was trained on the enhanced view, then the module's own forward (normalisation, network,
    and whatever else its forward runs). The one graph that runs in PyTorch and that export writes."""

    def __init__(self, module: nn.Module, enhancer: nn.Module | None = None, probabilities: bool = True):
        super().__init__()
        self.module = module
        self.enhancer = enhancer if enhancer is not None else nn.Identity()
        self.probabilities = probabilities

    def forward(self, video: Tensor) -> Tensor:
        logits = self.module(self.enhancer(video))
        return logits.softmax(dim=-1) if self.probabilities else logits


class ClipModel:
    """Base of the runners: prepares uint8 frames as the evaluation pipeline does, then runs."""

    spec: ClipSpec
    device: torch.device = torch.device("cpu")

    def prepare(self, frames: Tensor) -> Tensor:
        """uint8 (N, T, H, W, 3) -> float (N, 3, T, crop, crop) in [0, 1], on the runner's device."""
        if frames.ndim != 5 or frames.shape[-1] != 3:
            raise ValueError(f"frames must be uint8 (N, T, H, W, 3), got shape {tuple(frames.shape)}")
        return eval_crops(to_float_video(frames.to(self.device)), self.spec.crop_size, 1)

    def run(self, video: Tensor) -> Tensor:
        """float (N, 3, T, crop, crop) -> (N, num_classes) probabilities. Each runner defines it."""
        raise NotImplementedError

    @torch.inference_mode()
    def probabilities(self, frames: Tensor) -> Tensor:
        return self.run(self.prepare(frames)).float().cpu()


def module_from_checkpoint(checkpoint: dict, path: str | Path = "") -> nn.Module:
    """The dlkdd LightningModule that wrote `checkpoint`, rebuilt from its hyperparameters with its
    weights (no teacher, no pretrained file: the checkpoint holds the trained weights)."""
    import dlkdd.models  # the models import the data and backbones: kept out of this module's import

    written_by = checkpoint.get("dlkdd", {}).get("module")
    cls = getattr(dlkdd.models, written_by or "", None)
    if cls is None:
        raise ValueError(
            f"{path} was not written by a dlkdd model (it names {written_by!r}). Pass the checkpoint of a "
            "`dlkdd fit` run, e.g. runs/synthetic/distill/checkpoints/best.ckpt."
        )
    hparams = {k: v for k, v in checkpoint["hyper_parameters"].items() if not k.startswith("_")}
    hparams["pretrained"] = None
    module = cls(**hparams)
    module.on_load_checkpoint(checkpoint)
    module.load_state_dict(checkpoint["state_dict"])
    return module.eval().requires_grad_(False)


class TorchClipModel(ClipModel):
    """A dlkdd checkpoint run in PyTorch, eval mode, under inference mode."""

    def __init__(self, graph: InferenceGraph, spec: ClipSpec, device: str | torch.device = "cpu") -> None:
        self.spec = spec
        self.device = torch.device(device)
        self.graph = graph.to(self.device).eval()

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | torch.device = "cpu",
                        probabilities: bool = True) -> TorchClipModel:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"--ckpt_path {path}: no such file. Pass the checkpoint `dlkdd fit` "
                                    "wrote, e.g. runs/synthetic/distill/checkpoints/best.ckpt.")
        checkpoint = read_checkpoint(path)
        spec = ClipSpec.from_checkpoint(checkpoint, path)
        enhanced = spec.view == "enhanced"  # the teacher's view: its enhancer runs inside the graph
        enhancer = create_enhancer(spec.enhancer, **spec.enhancer_options) if enhanced else None
        graph = InferenceGraph(module_from_checkpoint(checkpoint, path), enhancer, probabilities)
        return cls(graph, spec, device)

    def run(self, video: Tensor) -> Tensor:
        return self.graph(video)


# File suffix -> loader(path, device) of a ClipModel; exported formats register theirs.
_LOADERS: dict[str, Callable[[Path, str], ClipModel]] = {".ckpt": TorchClipModel.from_checkpoint}


def register_clip_model_loader(suffix: str, loader: Callable[[Path, str], ClipModel]) -> None:
    _LOADERS[suffix] = loader


def load_clip_model(path: str | Path, device: str | torch.device = "cpu") -> ClipModel:
    """The runner for a checkpoint (.ckpt) or an exported file, chosen by its suffix."""
    path = Path(path)
    loader = _LOADERS.get(path.suffix)
    if loader is None:
        raise ValueError(f"{path}: unknown model file type {path.suffix!r}; expected one of "
                         f"{', '.join(sorted(_LOADERS))}")
    return loader(path, device)
