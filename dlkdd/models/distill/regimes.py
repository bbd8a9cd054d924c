"""regime_for: the one place that picks a DistillModule's regime from its options."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dlkdd.models.distill.genkd_mimic import GenKDMimic
from dlkdd.models.distill.genkd_released import GenKDReleased
from dlkdd.models.distill.logit_kd import LogitKD
from dlkdd.models.distill.regime import Regime
from dlkdd.models.genkd import GenKDOptions

if TYPE_CHECKING:
    from dlkdd.models.distill.module import DistillModule


def regime_for(module: DistillModule, genkd: GenKDOptions | None, cache_teacher_targets: bool = False,
               gate_hidden: int | None = None) -> Regime:
    """Logit KD without `genkd`, else its variant's GenKD regime. `gate_hidden`: see GenKDReleased."""
    if genkd is None:
        return LogitKD(cache=cache_teacher_targets)
    if cache_teacher_targets:
        raise ValueError(
            "--model.init_args.cache_teacher_targets caches the teacher's logits only; GenKD "
            "(--model.init_args.genkd) needs its feature maps every step: use one or the other"
        )
    if genkd.variant == "released":
        return GenKDReleased(module, genkd, gate_hidden)
    return GenKDMimic(module, genkd)
