"""The configs shipped with dlkdd, reachable from an installed package as from a checkout.

The repository's top-level ``configs/`` is the package data ``dlkdd/configs`` (a symlink in the checkout,
copied into the wheel), so:

* ``--config configs/arid/teacher.yaml`` (or ``--config arid/teacher.yaml``) that names no local file
  is read from the installed package; a local file of that name always wins;
* ``dlkdd configs [DEST]`` copies them out (to ``DEST/configs``) to edit.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dlkdd.parse_errors import CommandParser

SHIPPED = Path(str(resources.files("dlkdd") / "configs"))
# Options whose value is a YAML file that may be a shipped config.
_CONFIG_OPTIONS = ("--config", "-c", "--data")


def shipped_config(name: str) -> Path | None:
    """The shipped file `name` stands for ("configs/x/y.yaml" or "x/y.yaml"), None when there is none."""
    relative = Path(name)
    if relative.is_absolute() or relative.suffix not in (".yaml", ".yml"):
        return None
    parts = relative.parts[1:] if relative.parts[:1] == ("configs",) else relative.parts
    candidate = SHIPPED.joinpath(*parts) if parts else None
    return candidate if candidate is not None and candidate.is_file() else None


def resolve_config_args(argv: list[str]) -> list[str]:
    """`argv` with each --config/--data value that is no local file but a shipped config replaced by the
    shipped file's path."""
    out = list(argv)
    for i, arg in enumerate(out):
        option, sep, value = arg.partition("=")
        if option not in _CONFIG_OPTIONS:
            continue
        if not sep:
            if i + 1 >= len(out):
                continue
            value = out[i + 1]
        if Path(value).exists() or (found := shipped_config(value)) is None:
            continue
        if sep:
            out[i] = f"{option}={found}"
        else:
            out[i + 1] = str(found)
    return out


def build_parser() -> CommandParser:
    from dlkdd.parse_errors import CommandParser  # it reads SHIPPED: imported here, not at the top

    parser = CommandParser(
        prog="dlkdd configs",
        description="Copy the shipped configs (synthetic, cpu, arid, arid15, dark48, folder and the stages "
        "they share) to DEST/configs, "
        "so the documented `--config configs/...` commands run from DEST and the files can be edited.",
    )
    parser.add_argument("dest", nargs="?", default=Path("."), type=Path, help="folder to copy into")
    parser.add_argument("--force", action="store_true", help="overwrite files that are already there")
    return parser


def main(argv: list[str] | None = None) -> Path:
    parser = build_parser()
    args = parser.parse_args(argv)
    target = args.dest / "configs"
    sources = sorted(p for p in SHIPPED.rglob("*.yaml") if p.is_file())
    existing = [p for p in sources if (target / p.relative_to(SHIPPED)).exists()]
    if existing and not args.force:
        parser.error(f"{len(existing)} of the files are already in {target} (e.g. "
                     f"{target / existing[0].relative_to(SHIPPED)}); pass --force to overwrite them")
    for source in sources:
        destination = target / source.relative_to(SHIPPED)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)
    print(f"Copied {len(sources)} configs to {target}; e.g. dlkdd fit --config "
          f"{target / 'synthetic/teacher.yaml'}")
    return target
