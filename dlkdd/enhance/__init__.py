"""Enhancers: a dark clip (B,C,T,H,W) in [0,1] -> its enhanced view, same shape, dtype and device."""

from dlkdd.enhance import classic as _classic  # noqa: F401  (fills the registry)
from dlkdd.enhance.losses import zero_dce_loss
from dlkdd.enhance.registry import create_enhancer, list_enhancers, register_enhancer
from dlkdd.enhance.zero_dce import ZeroDCE
from dlkdd.enhance.zero_dce_v1 import ZeroDCEV1

__all__ = ["ZeroDCE", "ZeroDCEV1", "create_enhancer", "list_enhancers", "register_enhancer", "zero_dce_loss"]
