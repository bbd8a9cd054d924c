"""Distillation losses. Each returns one named term; the modules weight and log them."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def soft_target_kd(student_logits: Tensor, teacher_logits: Tensor, temperature: float) -> Tensor:
    """Hinton's soft-target term: T^2 * KL(softmax(teacher/T) || softmax(student/T)), mean over the batch.

    The T^2 keeps its gradient on the scale of the cross-entropy term when T changes.
    """
    student = F.log_softmax(student_logits / temperature, dim=-1)
    teacher = F.log_softmax(teacher_logits / temperature, dim=-1)
    return F.kl_div(student, teacher, log_target=True, reduction="batchmean") * temperature**2
