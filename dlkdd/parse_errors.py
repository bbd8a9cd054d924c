"""The parser of dlkdd's own commands, the model options they share, and a command line `dlkdd` cannot
parse said in one paragraph that names the closest valid choices.

jsonargparse answers a mistyped option with the whole usage (70-odd lines) and, for a model option, a dump
of the Union subtypes it tried; these turn its error into the sentence a person needs: what was wrong,
what it probably should be, and where the full list is (`dlkdd <command> --help`).
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import inspect
import re
import sys
from argparse import ArgumentError
from pathlib import Path

from jsonargparse import ArgumentParser, DefaultHelpFormatter

from dlkdd.shipped import SHIPPED

LIGHTNING_COMMANDS = ("fit", "validate", "test", "predict")


class CommandLineError(ValueError):
    """A mistake on the command line; the console prints it as one `dlkdd: error:` paragraph."""


class HelpFormatter(argparse.RawDescriptionHelpFormatter, DefaultHelpFormatter):
    """jsonargparse's option help, with the descriptions' example lines kept as written."""

    def _get_type_str(self, action) -> str | None:
        # A plain converter (argparse's `type=Path`, as a mutually exclusive group needs) by its name.
        kind = action.type if action.type is not None else getattr(action, "_typehint", None)
        if isinstance(kind, type) or inspect.isfunction(kind):
            return kind.__name__
        return super()._get_type_str(action)


class CommandParser(ArgumentParser):
    """jsonargparse for dlkdd's own commands (watch, calibrate, export, preview, quickstart, configs), as
    LightningCLI is for fit/validate/test/predict: a mistake is the same one paragraph as a Lightning
    command's (`explain`), naming the closest options, not the usage dump."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **{**kwargs, "exit_on_error": False})
        self._argv: list[str] = []

    def parse_args(self, args=None, *rest, **kwargs):
        self._argv = [str(a) for a in args or []]
        return super().parse_args(args, *rest, **kwargs)

    def error(self, message: str, ex: Exception | None = None):
        if getattr(self, "_inner_parser", False):  # one jsonargparse makes for a nested class: it retries
            return super().error(message, ex)
        command = self.prog.split()[-1]
        raise CommandLineError(explain(ArgumentError(None, message), [command, *self._argv], {command: self},
                                       ())) from None


# One meaning for each spelling, in every dlkdd command that runs a model (predict, watch, calibrate).
CKPT_PATH_HELP = "a checkpoint written by `dlkdd fit` (.ckpt)"
MODEL_FILE_HELP = "a file written by `dlkdd export` (.onnx, .pt, .ts), in place of --ckpt_path"


def add_model_options(parser: ArgumentParser) -> None:
    """The model a command runs: --ckpt_path or --model_file, one of them."""
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--ckpt_path", type=Path, help=CKPT_PATH_HELP)
    model.add_argument("--model_file", type=Path, help=MODEL_FILE_HELP)


def model_path(args) -> Path:
    """The file of --ckpt_path or --model_file, which must exist. Before they had one meaning each, watch
    and calibrate took an exported file as --ckpt_path: that still runs, with a word on the spelling."""
    option, path = ("--ckpt_path", args.ckpt_path) if args.ckpt_path is not None else ("--model_file",
                                                                                       args.model_file)
    if not path.is_file():
        raise FileNotFoundError(f"{option} {path}: no such file. Pass the checkpoint `dlkdd fit` wrote "
                                "(--ckpt_path runs/synthetic/distill/checkpoints/best.ckpt) or the file "
                                "`dlkdd export` wrote (--model_file student.onnx).")
    if option == "--ckpt_path" and path.suffix != ".ckpt":
        print(f"dlkdd: --ckpt_path {path} is an exported file, not a checkpoint: pass it as --model_file "
              "(deprecated spelling; --ckpt_path is a `dlkdd fit` checkpoint)", file=sys.stderr)
    return path


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

    if match := re.search(r'Parser key "(config|data)":\s*(?:File does not exist:|Unable to load config) '
                          r'[\'"]([^\'"]*)[\'"]', message):
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

    if (match := re.search(r"the following arguments are required: (.*)", message)) and command in parsers:
        # jsonargparse names them by their dest (ckpt_path, recordings): say them as they are typed.
        spelled = {a.dest: a.option_strings[0] if a.option_strings else a.metavar or a.dest
                   for a in parsers[command]._actions}
        missing = [spelled.get(name.strip(), name.strip()) for name in match.group(1).split(",")]
        return f"the following arguments are required: {', '.join(missing)} ({where})."

    key, given = re.search(r'Parser key "([^"]+)"', message), re.search(r"(?:Given|Got) value: (.*)", message)
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
