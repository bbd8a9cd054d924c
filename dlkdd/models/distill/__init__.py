"""Stage 2, distillation: DistillModule (the student, its data flow and checkpoints) and the three regimes it
can train under, each a small strategy object that owns its losses, optimizers, epoch hooks and checkpoint
keys:

* ``LogitKD`` (logit_kd.py): Hinton's soft targets, optionally from a cache of the teacher's logits;
* ``GenKDReleased`` (genkd_released.py): GenKD as aaai-24/Generative-based-KD released it;
* ``GenKDMimic`` (genkd_mimic.py): dlkdd's own earlier GenKD variant.

``regime_for`` (regimes.py) is the one place that picks a regime from the module's options; the frozen teacher
a regime distils from is a FrozenTeacher (frozen_teacher.py). The GenKD building blocks (CVAE, gates, the
loss terms) are dlkdd.models.genkd's."""

from dlkdd.models.distill.module import DistillModule
from dlkdd.models.distill.regime import TRAINING_ONLY_KEY

__all__ = ["TRAINING_ONLY_KEY", "DistillModule"]
