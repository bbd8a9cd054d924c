"""Enhancers: a dark clip (B,C,T,H,W) in [0,1] -> its enhanced view, same shape, dtype and device."""

from dlkdd.enhance import classic as _classic  # noqa: F401  (fills the registry)
from dlkdd.enhance.registry import create_enhancer, list_enhancers, register_enhancer

__all__ = ["create_enhancer", "list_enhancers", "register_enhancer"]
