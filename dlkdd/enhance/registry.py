"""Name -> enhancer builder. Enhancers are nn.Modules so learned ones (Zero-DCE) fit the same slot.

Options (``--data.enhancer_options``) come in two forms:

* keyed by enhancer, ``{gic: {gamma: 2.0}, clahe: {clip_limit: 3.0}}``: each enhancer gets its own entry
  (none when it has no entry), so ``--data.enhancer X`` switches enhancers without touching the options;
* flat, ``{gamma: 2.0}``: the options of the chosen enhancer. Options it does not take but another
  enhancer does (a config's ``gamma`` when ``--data.enhancer identity`` overrides its ``gic``) belong to
  that other enhancer and are left out, with a notice; an option no enhancer takes is an error.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable

from torch import nn

from dlkdd._registry import register_into, unknown_name_error

_ENHANCERS: dict[str, Callable[..., nn.Module]] = {}


def register_enhancer(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    return register_into(_ENHANCERS, "enhancer", name)


def list_enhancers() -> list[str]:
    return sorted(_ENHANCERS)


def create_enhancer(name: str, **options) -> nn.Module:
    """Build enhancer `name`; options are its keyword arguments (e.g. gamma=2.0 for 'gic'), flat or keyed
    by enhancer name (see the module docstring)."""
    if name not in _ENHANCERS:
        raise unknown_name_error("enhancer", name, _ENHANCERS, "--data.enhancer")
    options = enhancer_options_for(name, options)
    try:
        enhancer = _ENHANCERS[name](**options)
    except TypeError as err:
        raise ValueError(f"Bad --data.enhancer_options for enhancer {name!r}: {err}") from err
    return enhancer.eval().requires_grad_(False)


def _accepted(name: str) -> set[str] | None:
    """Keyword arguments enhancer `name` takes (None: any, it has **kwargs)."""
    builder = _ENHANCERS[name]
    if isinstance(builder, type) and builder.__init__ is nn.Module.__init__:
        return set()  # a module without an __init__ of its own takes no options
    parameters = inspect.signature(builder).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return None
    return {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def enhancer_options_for(name: str, options: dict) -> dict:
    """The keyword arguments of enhancer `name` out of either form of --data.enhancer_options."""
    keyed = [k for k in options if k in _ENHANCERS]
    if keyed and len(keyed) == len(options):
        return enhancer_options_for(name, dict(options.get(name) or {}))
    if keyed:
        raise ValueError(
            f"--data.enhancer_options mixes options keyed by enhancer ({', '.join(keyed)}) with plain "
            f"options ({', '.join(k for k in options if k not in _ENHANCERS)}); use one form, e.g. "
            "{gic: {gamma: 2.0}} or {gamma: 2.0}."
        )
    accepted = _accepted(name)
    if accepted is None:
        return dict(options)
    foreign = {k: v for k, v in options.items() if k not in accepted}
    owners = {k: [n for n in sorted(_ENHANCERS) if k in (_accepted(n) or ())] for k in foreign}
    unknown = [k for k, owner in owners.items() if not owner]
    if unknown:
        raise ValueError(
            f"--data.enhancer_options {', '.join(unknown)}: not an option of enhancer {name!r} (it takes "
            f"{', '.join(sorted(accepted)) or 'none'}) nor of any other enhancer; fix the name or drop it."
        )
    if foreign:
        print(f"dlkdd: enhancer {name!r} ignores --data.enhancer_options "
              + ", ".join(f"{k} (an option of {'/'.join(owners[k])})" for k in foreign), file=sys.stderr)
    return {k: v for k, v in options.items() if k in accepted}
