"""Fail before the first step when the clips do not fit the backbones, naming the data option to change."""

from __future__ import annotations

import lightning as L

from dlkdd.backbones.registry import Backbone


def check_clip_fits(backbone: Backbone, role: str, data_hparams) -> None:
    try:
        backbone.check_input(data_hparams.clip_len, data_hparams.crop_size)
    except ValueError as err:
        raise ValueError(
            f"The {role} does not fit the clips: {err} (--data.clip_len is {data_hparams.clip_len}, "
            f"--data.crop_size is {data_hparams.crop_size}; or choose another --model.init_args.backbone.)"
        ) from err


class ClipFitsBackbones(L.Callback):
    """Checks the model's backbone at setup (before the module's own setup and before any step) and a
    distillation teacher once it is loaded (on_fit_start, before the sanity check)."""

    def setup(self, trainer, pl_module, stage: str) -> None:
        backbone = getattr(pl_module, "backbone", None)
        if isinstance(backbone, Backbone) and trainer.datamodule is not None:
            check_clip_fits(backbone, "model's backbone", trainer.datamodule.hparams)

    def on_fit_start(self, trainer, pl_module) -> None:
        teacher = getattr(pl_module, "teacher", None)
        if isinstance(teacher, Backbone) and trainer.datamodule is not None:
            check_clip_fits(teacher, "teacher's backbone", trainer.datamodule.hparams)
