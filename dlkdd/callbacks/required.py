"""How a LightningModule attaches the callbacks no run is correct without (the rule: dlkdd.callbacks)."""

from __future__ import annotations

import lightning as L


def required(trainer: L.Trainer | None, *callbacks: L.Callback) -> list[L.Callback]:
    """What `configure_callbacks` returns: each of `callbacks` unless the trainer already holds one of its
    type. That one is kept: the user's, chosen in `trainer.callbacks` with its own options (Lightning
    would replace it with the model's), or the one an earlier fit/validate/test of the same trainer got
    (Lightning calls configure_callbacks at the start of each)."""
    held = trainer.callbacks if trainer is not None else []
    return [c for c in callbacks if not any(isinstance(h, type(c)) for h in held)]
