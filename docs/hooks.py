"""MkDocs hook: the reference pages' generated parts, made from the code at build time (they cannot go stale).

A page asks for a part with an HTML comment on a line of its own:

    <!-- dlkdd:help fit -->        what `dlkdd fit --help` prints (any command; alone: `dlkdd --help`)
    <!-- dlkdd:commands -->        a section with the help of every command, `dlkdd` and its extra commands
    <!-- dlkdd:configs -->         every shipped config, grouped by dataset, with its text
    <!-- dlkdd:backbones -->       the backbone registry as a table
    <!-- dlkdd:errors -->          every `dlkdd: error:` message in the package's source, by module

The help is the commands' own jsonargparse output, captured in this process (one import of torch
for the whole site) at a fixed width.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import io
import os
import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARKER = re.compile(r"^<!-- dlkdd:(help|commands|configs|backbones|errors)(?: ([\w-]+))? -->$", re.MULTILINE)
# What `dlkdd` prints as one `dlkdd: error:` paragraph (dlkdd.cli.USAGE_ERRORS and their subclasses).
USAGE_ERRORS = {"ValueError", "KeyError", "FileNotFoundError", "UnsafeCheckpointError", "UnknownNameError"}


@cache
def command_help(command: str | None) -> str:
    """What `dlkdd [command] --help` prints."""
    os.environ["COLUMNS"] = "100"  # argparse wraps at the terminal's width: fix it, so builds agree
    from dlkdd import cli
    from dlkdd.console import quiet_third_party_notices

    quiet_third_party_notices()  # as the console does: LightningCLI's `args` warning is noise here
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


def commands_section() -> str:
    from dlkdd import cli

    commands = [None, "quickstart", "fit", "validate", "test", "predict"]
    commands += [c for c in cli.EXTRA_COMMANDS if c not in commands]
    return "\n\n".join(f"## `dlkdd{' ' + c if c else ''}`\n\n{help_block(c)}" for c in commands)


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
        weights = sorted(n for n, (owner, *_) in _PUBLISHED.items()
                         if (owner.name, owner.kind) == (name, "backbone"))
        weights += ["kinetics400"] if spec.kinetics_weights else []
        frames = f"exactly {spec.fixed_frames}" if spec.fixed_frames else spec.min_frames
        crop = f"exactly {spec.fixed_size}" if spec.fixed_size else spec.min_size
        rows.append(
            f"| `{name}` | {spec.crop_size} | {frames} | {crop} | {spec.feature_dim} | {params:.2f} | "
            f"{', '.join(f'`{w}`' for w in weights) or 'none: random start'} |"
        )
    return "\n".join(rows)


def message_template(node: ast.expr) -> str:
    """An error message as written in the source, its f-string fields shown as <field>."""
    if isinstance(node, ast.Constant):
        return str(node.value)
    if isinstance(node, ast.JoinedStr):
        return "".join(message_template(v) for v in node.values)
    if isinstance(node, ast.FormattedValue):
        return f"<{ast.unparse(node.value)}>"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return message_template(node.left) + message_template(node.right)
    if isinstance(node, ast.IfExp):
        return f"[{message_template(node.body)}]"
    return f"<{ast.unparse(node)}>"


def error_messages() -> dict[str, list[str]]:
    """module -> the messages of the usage errors it raises, in source order."""
    found: dict[str, list[str]] = {}
    for path in sorted((ROOT / "dlkdd").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            call = node.exc if isinstance(node, ast.Raise) else None
            if not (isinstance(call, ast.Call) and call.args and isinstance(call.func, ast.Name)):
                continue
            message = call.args[0]
            if call.func.id in USAGE_ERRORS and isinstance(message, ast.Constant | ast.JoinedStr | ast.BinOp):
                module = path.relative_to(ROOT).with_suffix("").as_posix().replace("/", ".")
                found.setdefault(module, []).append(" ".join(message_template(message).split()))
    return found


def errors_section() -> str:
    parts = []
    for module, messages in error_messages().items():
        parts.append(f"### `{module}`\n")
        parts += [f"- {escape(message)}" for message in messages]
        parts.append("")
    return "\n".join(parts)


def escape(text: str) -> str:
    """Markdown-safe: <field> placeholders and stray * _ ` | would otherwise be read as markup."""
    return "".join("\\" + c if c in "\\`*_[]<>|" else c for c in text)


def indent(text: str, spaces: int) -> str:
    return "\n".join((" " * spaces + line) if line else line for line in text.splitlines())


def expand(markdown: str) -> str:
    def part(match: re.Match) -> str:
        kind, arg = match.group(1), match.group(2)
        if kind == "help":
            return help_block(arg)
        parts = {"commands": commands_section, "configs": configs_section, "backbones": backbones_table,
                 "errors": errors_section}
        return parts[kind]()

    return MARKER.sub(part, markdown)


def on_page_markdown(markdown: str, **_) -> str:
    return expand(markdown)
