"""The README and the documentation say what the code does: every `dlkdd` command they show parses against
the current CLI, every relative link resolves, every results table equals its JSON file, and `dlkdd --help`
names every command. Parsing only: nothing here trains, so the file runs in seconds.

Commands are taken from fenced code blocks marked `bash` (or `sh`, `shell`): those are what a reader
copies. Blocks marked `text` show output, including mistakes on purpose (Troubleshooting), and are not run.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.machinery
import io
import json
import re
import shlex
import sys
import types
from pathlib import Path

import pytest

from dlkdd import cli
from dlkdd.parse_errors import CommandLineError

REPO = Path(__file__).resolve().parents[2]
RESULTS_README = REPO / "benchmarks" / "results" / "README.md"
PAGES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md")), RESULTS_README]
FENCE = re.compile(r"^([ \t]*)```(\w*)[^\n]*\n(.*?)^\1```[ \t]*$", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
LIGHTNING_COMMANDS = ("fit", "validate", "test", "predict")

sys.path.insert(0, str(REPO / "docs"))
import gen_results  # noqa: E402  (docs/ is no package: the script runs as `python docs/gen_results.py`)


def shell_commands(text: str) -> list[list[str]]:
    """Each `dlkdd ...` command of the page's shell blocks, as argv (continuations joined, comments dropped,
    `&&` / `;` / `|` chains split)."""
    commands = []
    for block in FENCE.finditer(text):
        if block.group(2) not in ("bash", "sh", "shell"):
            continue
        for line in re.sub(r"\\\n\s*", " ", block.group(3)).splitlines():
            words, command = shlex.split(line, comments=True) + ["&&"], []
            for word in words:
                if word in ("&&", "||", ";", "|"):
                    if command[:1] == ["dlkdd"]:
                        commands.append(command[1:])
                    command = []
                else:
                    command.append(word)
    return commands


def documented_commands() -> list[tuple[str, list[str]]]:
    return [(f"{page.relative_to(REPO)}: dlkdd {' '.join(argv)}", argv)
            for page in PAGES for argv in shell_commands(page.read_text())]


def run_quietly(fn, *args) -> tuple[int, str]:
    """Call fn(*args), which must end in SystemExit (argparse's --help, jsonargparse's --print_config or a
    parse error): its exit code and what it printed."""
    out = io.StringIO()
    quiet = contextlib.redirect_stdout(out), contextlib.redirect_stderr(out)
    with quiet[0], quiet[1], pytest.raises(SystemExit) as exit_info:
        fn(*args)
    return exit_info.value.code or 0, out.getvalue()


def check_lightning_command(argv: list[str]) -> None:
    try:
        code, printed = run_quietly(cli.main, [*argv, "--print_config"])
    except CommandLineError as err:  # what `dlkdd` prints as its one-paragraph error
        raise AssertionError(f"dlkdd {' '.join(argv)}: {err}") from None
    assert code == 0, printed[-2000:]


def check_command(argv: list[str]) -> None:
    command, args = argv[0], argv[1:]
    if command in LIGHTNING_COMMANDS:
        return check_lightning_command(argv)
    assert command in cli.EXTRA_COMMANDS, f"`dlkdd {command}` is no command: {sorted(cli.EXTRA_COMMANDS)}"
    module = importlib.import_module(cli.EXTRA_COMMANDS[command])
    if command == "quickstart":  # its own options, then any fit option, passed to every fit
        own, overrides = module.own_options(args)
        module.build_parser().parse_args(own)
        return check_lightning_command(["fit", "--config", "configs/synthetic/teacher.yaml", *overrides])
    if command == "preview" and not any(a == "--data" or a.startswith("--data=") for a in args):
        args = ["--data", str(module.DEFAULT_DATA), *args]  # as preview's main does
    module.build_parser().parse_args(args)  # a parse error raises CommandLineError: the test fails


@pytest.mark.parametrize("argv", [argv for _, argv in documented_commands()],
                         ids=[name for name, _ in documented_commands()])
def test_documented_command_parses(argv, monkeypatch):
    monkeypatch.chdir(REPO)  # the commands name configs/... relative to the repository
    check_command(argv)


def test_the_check_catches_a_wrong_command(monkeypatch):
    monkeypatch.chdir(REPO)
    with pytest.raises(AssertionError):
        check_command(["fit", "--config", "configs/synthetic/teacher.yaml", "--model.init_args.lr_typo", "1"])
    with pytest.raises(CommandLineError, match="--no_such_option"):
        check_command(["watch", "night.mp4", "--ckpt_path", "best.ckpt", "--no_such_option"])
    assert len(documented_commands()) > 40  # the extraction found the pages' commands


def slug(heading: str) -> str:
    """The anchor MkDocs (Python-Markdown's toc) gives a heading."""
    text = re.sub(r"[`*]", "", heading).strip().lower()
    text = re.sub(r"[^\w\s-]", "", text)
    return re.sub(r"[-\s]+", "-", text).strip("-")


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text())
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", text, re.MULTILINE)}


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(REPO)) for p in PAGES])
def test_relative_links_resolve(page):
    broken = []
    for target in LINK.findall(FENCE.sub("", page.read_text())):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(f"{target}: no such file {resolved}")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading #{anchor} in {resolved.relative_to(REPO)}")
    assert not broken, f"{page.relative_to(REPO)}: " + "; ".join(broken)


def test_results_tables_equal_their_json():
    stale = gen_results.stale()
    assert not stale, f"{[str(p.relative_to(REPO)) for p in stale]} differ from benchmarks/results/: " \
                      "run python docs/gen_results.py"


def test_a_changed_figure_makes_its_table_stale():
    page = (REPO / "README.md").read_text()
    table = gen_results.TABLES["glance"]()
    assert table in page
    assert gen_results.render(page.replace(table, table.replace("91.80", "91.81"))) == page


def test_results_folder_holds_the_files_its_readme_names():
    folder = REPO / "benchmarks" / "results"
    named = set(re.findall(r"`([\w.-]+\.(?:json|png|md))`", (folder / "README.md").read_text()))
    present = {p.name for p in folder.iterdir() if p.name != "README.md"}
    assert named == present, f"not in the README: {present - named}; named but absent: {named - present}"


def test_a_result_file_records_its_machine_commit_command_and_date(tmp_path, monkeypatch):
    from benchmarks.common import write_json

    main = types.ModuleType("__main__")  # as `python -m benchmarks.loader --preset arid` runs it
    main.__spec__ = importlib.machinery.ModuleSpec("benchmarks.loader", None)
    monkeypatch.setitem(sys.modules, "__main__", main)
    monkeypatch.setattr(sys, "argv", [str(REPO / "benchmarks" / "loader.py"), "--preset", "arid"])
    write_json(tmp_path / "figures.json", {"clips_per_s": 1.0})
    written = json.loads((tmp_path / "figures.json").read_text())
    provenance = written["provenance"]
    assert re.fullmatch(r"[0-9a-f]{7,}(-dirty)?", provenance["commit"]), provenance
    assert provenance["command"] == "python -m benchmarks.loader --preset arid"
    assert re.match(r"\d{4}-\d\d-\d\dT", provenance["date"]) and written["machine"]["torch"]
    assert written["clips_per_s"] == 1.0


def test_dlkdd_help_names_every_command():
    code, printed = run_quietly(cli.main, ["--help"])
    assert code == 0
    for command in (*LIGHTNING_COMMANDS, *cli.EXTRA_COMMANDS):
        assert re.search(rf"^\s+dlkdd {command}\b", printed, re.MULTILINE), f"`dlkdd --help` omits {command}"


def test_readme_layout_names_every_package_folder():
    readme = (REPO / "README.md").read_text()
    folders = [p.parent.name for p in (REPO / "dlkdd").glob("*/__init__.py")]
    assert all(f"dlkdd/{name}/" in readme for name in folders), folders
    assert all(f"{name}/" in readme for name in ("configs", "benchmarks", "docs", "tests"))


def test_readme_stays_short_and_keeps_the_lines_ci_runs():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    ci = (REPO / ".ci" / "run").read_text()
    install = re.search(r'pip install -e "\.\[[\w,]+\]"', ci).group(0)
    assert install in readme and "python -m pytest -q" in readme
