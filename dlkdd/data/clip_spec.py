"""ClipSpec: how to cut clips for a trained model, defined once beside the DataModule that cut them.

A model sees clips cut by DarkVideoDataModule's arguments; `dlkdd predict --model_file`, `dlkdd watch`
and `dlkdd export` must cut the same ones. The spec travels in two stored forms whose keys are these
names, so renaming one breaks every checkpoint and exported file already written:

- a checkpoint: Lightning saves the DataModule's arguments in checkpoint["datamodule_hyper_parameters"]
  (clip_len, frame_stride, frame_size, crop_size, enhancer, enhancer_options), the model's in
  checkpoint["hyper_parameters"] (class_names, view, backbone), and `dlkdd calibrate --into_checkpoint`
  writes checkpoint["dlkdd"]["event_settings"];
- an exported file: its metadata holds `to_dict()` (dlkdd.inference.exported encodes the values).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

# DarkVideoDataModule's arguments that cut a clip.
CLIP_OPTIONS = ("clip_len", "frame_stride", "frame_size", "crop_size")


@dataclass(frozen=True)
class ClipSpec:
    """What a caller must know to cut clips for a model (all of it saved in every dlkdd checkpoint)."""

    clip_len: int  # frames per clip
    frame_stride: int  # step between sampled frames: a clip spans (clip_len - 1) * frame_stride + 1 frames
    frame_size: tuple[int, int]  # (height, width) frames are decoded to (aspect kept, centre cropped)
    crop_size: int  # the square centre crop the network sees
    class_names: list[str] = field(default_factory=list)
    view: str = "original"  # the view the network was trained on ("enhanced": the enhancer is in the graph)
    enhancer: str = "identity"
    enhancer_options: dict = field(default_factory=dict)
    backbone: str = ""
    # `dlkdd watch`'s event settings calibrated for this model by `dlkdd calibrate --into_checkpoint`
    # (event_enter, event_exit, min_event, smooth, open_set_threshold): carried by the checkpoint
    # (checkpoint["dlkdd"]["event_settings"]) and by an exported file's metadata, so the file decides
    # "no confident action" as it was calibrated to.
    event_settings: dict = field(default_factory=dict)

    @property
    def span(self) -> int:
        """Source frames one clip covers."""
        return (self.clip_len - 1) * self.frame_stride + 1

    @classmethod
    def from_options(cls, data: Mapping[str, Any], model: Mapping[str, Any] | None = None,
                     event_settings: Mapping[str, Any] | None = None) -> ClipSpec:
        """The spec from the DataModule's arguments (`data`) and the model's (`model`), as they are saved."""
        model = model or {}
        return cls(
            clip_len=int(data["clip_len"]),
            frame_stride=int(data["frame_stride"]),
            frame_size=tuple(int(v) for v in data["frame_size"]),
            crop_size=int(data["crop_size"]),
            class_names=list(model.get("class_names") or []),
            view=model.get("view", "original"),
            enhancer=data.get("enhancer", "identity"),
            enhancer_options=dict(data.get("enhancer_options") or {}),
            backbone=model.get("backbone", ""),
            event_settings=dict(event_settings or {}),
        )

    @classmethod
    def from_checkpoint(cls, checkpoint: dict, path: str | Path = "") -> ClipSpec:
        data = checkpoint.get("datamodule_hyper_parameters")
        if not data:
            raise ValueError(
                f"{path}: the checkpoint carries no data settings (clip length, frame size), so its clips "
                "cannot be cut. Pass a checkpoint written by `dlkdd fit` (runs/<dataset>/<stage>/"
                "checkpoints/best.ckpt)."
            )
        return cls.from_options(data, checkpoint.get("hyper_parameters", {}),
                                checkpoint.get("dlkdd", {}).get("event_settings"))

    def to_dict(self) -> dict[str, Any]:
        """Every field by name, in the order of the class (an exported file's metadata keys)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ClipSpec:
        """The spec back from `to_dict()`'s values (fields left out take their defaults)."""
        return cls(**{**values, "frame_size": tuple(values["frame_size"])})

    def clip_options(self) -> dict[str, Any]:
        """The DataModule arguments that cut this model's clips (frame_size as a list, as configs have it)."""
        return {**{key: getattr(self, key) for key in CLIP_OPTIONS}, "frame_size": list(self.frame_size)}
