"""The soft-target KD term against a hand computation."""

from __future__ import annotations

import math

import pytest
import torch

from dlkdd.models.losses import soft_target_kd


def test_soft_target_kd_matches_hand_computation():
    student = torch.tensor([[2.0, 0.5, -1.0], [0.0, 1.0, 3.0]])
    teacher = torch.tensor([[1.0, 1.0, 0.0], [-2.0, 0.5, 2.5]])
    temperature = 3.0
    expected = 0.0
    for s_row, t_row in zip(student.tolist(), teacher.tolist(), strict=True):
        s_exp = [math.exp(v / temperature) for v in s_row]
        t_exp = [math.exp(v / temperature) for v in t_row]
        p_s = [v / sum(s_exp) for v in s_exp]
        p_t = [v / sum(t_exp) for v in t_exp]
        expected += sum(pt * math.log(pt / ps) for pt, ps in zip(p_t, p_s, strict=True))
    expected = expected / 2 * temperature**2
    assert soft_target_kd(student, teacher, temperature).item() == pytest.approx(expected, rel=1e-5)


def test_soft_target_kd_is_zero_for_identical_logits_and_has_student_gradient():
    logits = torch.randn(4, 5, requires_grad=True)
    assert soft_target_kd(logits, logits.detach(), 4.0).item() == pytest.approx(0.0, abs=1e-6)
    soft_target_kd(logits, torch.randn(4, 5), 4.0).backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0

