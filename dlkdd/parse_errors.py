"""A command line `dlkdd` cannot parse, said in one paragraph that names the closest valid choices.

jsonargparse answers a mistyped option with the whole usage (70-odd lines) and, for a model option, a dump
of the Union subtypes it tried; these turn its error into the sentence a person needs: what was wrong,
what it probably should be, and where the full list is (`dlkdd <command> --help`).
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import re
from argparse import ArgumentError, ArgumentParser
from pathlib import Path

from dlkdd.shipped import SHIPPED

LIGHTNING_COMMANDS = ("fit", "validate", "test", "predict")


class CommandLineError(ValueError):
    """A mistake on the command line; the console prints it as one `dlkdd: error:` paragraph."""


class CommandParser(ArgumentParser):
    """argparse for dlkdd's own commands (watch, calibrate, export, quickstart, configs): a mistake is the
    same one paragraph as a Lightning command's, naming the closest options, not argparse's usage dump."""

    def error(self, message: str):
        wrong = re.findall(r"(?<![\w-])(--?[A-Za-z][\w.-]*)", message.split(":", 1)[-1])
        options = [o for action in self._actions for o in action.option_strings]
        hints = "".join(closest(w, options) for w in wrong if w not in options)
        raise CommandLineError(f"{self.prog}: {message}.{hints} `{self.prog} --help` lists every option.")


def closest(word: str, choices, n: int = 3) -> str:
    found = difflib.get_close_matches(word, sorted(set(choices)), n=n, cutoff=0.6)
    return f" Did you mean {', '.join(found)}?" if found else ""


def explain(err: ArgumentError, argv: list[str], parsers: dict[str, ArgumentParser], extra_commands) -> str:
    """The paragraph for `err`, raised while parsing `argv` (`parsers`: each subcommand's parser)."""
    message = str(err)
    command = next((a for a in argv if not a.startswith("-")), "")
    where = f"`dlkdd {command} --help` lists every option" if command in parsers else "`dlkdd --help`: all"

    if match := re.search(r"subcommand: invalid choice: '([^']*)'", message):
        commands = [*LIGHTNING_COMMANDS, *extra_commands]
        wrong = match.group(1)
        return f"unknown command '{wrong}'.{closest(wrong, commands)} Commands: {', '.join(commands)}."

    if match := re.search(r'Parser key "(config|data)":\s*File does not exist: \'([^\']*)\'', message):
        option, missing = match.groups()
        given = next((argv[i + 1] for i, a in enumerate(argv[:-1]) if a in (f"--{option}", "-c")), missing)
        shipped = [f"configs/{p.relative_to(SHIPPED).as_posix()}" for p in SHIPPED.rglob("*.yaml")]
        local = [p.as_posix() for p in Path("configs").rglob("*.yaml")] if Path("configs").is_dir() else []
        return (f"--{option} {given}: no such file, here or among the shipped configs."
                f"{closest(given, shipped + local)} `dlkdd configs DEST` copies the shipped configs to "
                "DEST/configs to edit.")

    if match := re.search(r"class_path '([\w.]+)':\s*Option '(\w+)' is not accepted", message):
        class_path, option = match.groups()
        accepted = init_parameters(class_path)
        name = class_path.rsplit(".", 1)[-1]
        return (f"--model.init_args.{option}: {name} has no option '{option}'."
                f"{closest(option, accepted)} {name} takes: {', '.join(sorted(accepted))}.")

    if match := re.search(r"nrecognized arguments: (.*)", message):
        options = parsers[command]._option_string_actions if command in parsers else {}
        unknown = [w.split("=", 1)[0] for w in match.group(1).split() if w.startswith("--")]
        parts = [f"{option}.{closest(option, options)}" for option in unknown] or [match.group(1)]
        return f"unknown option {' '.join(parts)} ({where})."

    key, given = re.search(r'Parser key "([^"]+)"', message), re.search(r"Given value: (.*)", message)
    expected = re.findall(r"Expected a <class '(\w+)'>", message)
    if key and given and expected:
        types = " or ".join("null" if t == "NoneType" else t for t in expected)
        return f"--{key.group(1)} {given.group(1)}: expected {types} ({where})."
    return f"{' '.join(message.split()) or repr(err)} ({where})."


def init_parameters(class_path: str) -> set[str]:
    """The options a class takes, through the **kwargs it hands to its parents (as jsonargparse resolves)."""
    module, _, name = class_path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return set()
    names: set[str] = set()
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        parameters = inspect.signature(klass.__init__).parameters.values()
        names |= {p.name for p in parameters
                  if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            break
    return names
