"""What every dlkdd registry (backbones, enhancers, datasets) shares: duplicate-safe registration and
an unknown-name error that names the option and the close matches. A leaf: imports nothing of dlkdd."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from typing import TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError, ValueError):
    """An unregistered name: a KeyError for lookups, a ValueError for config validation."""

    def __str__(self) -> str:
        return str(self.args[0])  # KeyError.__str__ would print the message as a quoted repr


def unknown_name_error(kind: str, name: str, known: Iterable[str], option: str) -> UnknownNameError:
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return UnknownNameError(f"Unknown {kind} {name!r} (option {option}).{hint} Known: {', '.join(known)}.")


def register_into(table: dict[str, T], kind: str, name: str, entry: Callable[[Callable], T] = lambda b: b):
    """Decorator that stores `entry(builder)` in `table` under `name`; a second registration is a bug."""

    def decorator(builder: Callable) -> Callable:
        if name in table:
            raise ValueError(f"{kind} {name!r} is registered twice")
        table[name] = entry(builder)
        return builder

    return decorator
