"""MkDocs hook: the reference pages' generated parts, made from the code at build time (they cannot go stale).

A page asks for a part with an HTML comment on a line of its own:

    <!-- dlkdd:help fit -->        what `dlkdd fit --help` prints (any command; alone: `dlkdd --help`)
    <!-- dlkdd:configs -->         every shipped config, grouped by dataset, with its text
    <!-- dlkdd:backbones -->       the backbone registry as a table

The help is the commands' own argparse/jsonargparse output, captured in this process (one import of torch
for the whole site) at a fixed width.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARKER = re.compile(r"^<!-- dlkdd:(help|configs|backbones)(?: ([\w-]+))? -->$", re.MULTILINE)


@cache
def command_help(command: str | None) -> str:
    """What `dlkdd [command] --help` prints."""
    os.environ["COLUMNS"] = "100"  # argparse wraps at the terminal's width: fix it, so builds agree
    from dlkdd import cli

    argv = ([command] if command else []) + ["--help"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        if command in cli.EXTRA_COMMANDS:
            importlib.import_module(cli.EXTRA_COMMANDS[command]).main(argv[1:])
        else:
            cli.main(argv)  # --help exits while parsing, before anything runs
    text = out.getvalue().rstrip()
    if not text:
        raise RuntimeError(f"`dlkdd {' '.join(argv)}` printed nothing")
    return text


def help_block(command: str | None) -> str:
    name = f"dlkdd {command} --help" if command else "dlkdd --help"
    return f"```text\n$ {name}\n{command_help(command)}\n```"


def configs_section() -> str:
    parts = []
    for folder in sorted(p for p in (ROOT / "configs").iterdir() if p.is_dir()):
        parts.append(f"## `configs/{folder.name}/`\n")
        for path in sorted(folder.glob("*.yaml")):
            rel = path.relative_to(ROOT).as_posix()
            text = path.read_text().rstrip()
            parts.append(f'??? note "`{rel}`"\n\n    ```yaml\n' + indent(text, 4) + "\n    ```\n")
    return "\n".join(parts)


def backbones_table() -> str:
    import torch

    from dlkdd.backbones import create_backbone, get_backbone_spec, list_backbones
    from dlkdd.backbones.published import _PUBLISHED

    rows = [
        "| name | crop | min frames | min crop | features | params (M, no head) | `pretrained:` names |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in list_backbones():
        spec = get_backbone_spec(name)
        with torch.device("meta"):  # sizes without allocating or initialising a single weight
            net = create_backbone(name, num_classes=1).net
        params = sum(p.numel() for p in net.parameters()) / 1e6
        weights = sorted(n for n, (backbone, _) in _PUBLISHED.items() if backbone == name)
        weights += ["kinetics400"] if spec.kinetics_weights else []
        frames = f"exactly {spec.fixed_frames}" if spec.fixed_frames else spec.min_frames
        crop = f"exactly {spec.fixed_size}" if spec.fixed_size else spec.min_size
        rows.append(
            f"| `{name}` | {spec.crop_size} | {frames} | {crop} | {spec.feature_dim} | {params:.2f} | "
            f"{', '.join(f'`{w}`' for w in weights) or 'none: random start'} |"
        )
    return "\n".join(rows)


def indent(text: str, spaces: int) -> str:
    return "\n".join((" " * spaces + line) if line else line for line in text.splitlines())


def expand(markdown: str) -> str:
    def part(match: re.Match) -> str:
        kind, arg = match.group(1), match.group(2)
        if kind == "help":
            return help_block(arg)
        return configs_section() if kind == "configs" else backbones_table()

    return MARKER.sub(part, markdown)


def on_page_markdown(markdown: str, **_) -> str:
    return expand(markdown)
