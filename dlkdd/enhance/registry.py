"""Name -> enhancer builder. Enhancers are nn.Modules so learned ones (Zero-DCE) fit the same slot."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from dlkdd._registry import register_into, unknown_name_error

_ENHANCERS: dict[str, Callable[..., nn.Module]] = {}


def register_enhancer(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    return register_into(_ENHANCERS, "enhancer", name)


def list_enhancers() -> list[str]:
    return sorted(_ENHANCERS)


def create_enhancer(name: str, **options) -> nn.Module:
    """Build enhancer `name`; options are its keyword arguments (e.g. gamma=2.0 for 'gic')."""
    if name not in _ENHANCERS:
        raise unknown_name_error("enhancer", name, _ENHANCERS, "--data.enhancer")
    try:
        enhancer = _ENHANCERS[name](**options)
    except TypeError as err:
        raise TypeError(f"Bad --data.enhancer_options for enhancer {name!r}: {err}") from err
    return enhancer.eval().requires_grad_(False)
