"""What a person reads at the console: a fit ends with one short summary (and W&B's own end-of-run tables
stay off), Lightning's device report is shown once per process however many trainers a command builds, and
a mistyped command line is one paragraph naming the closest valid choices."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import lightning as L
import pytest
import torch

from dlkdd.cli import main
from dlkdd.console import _LightningNotices, quiet_third_party_notices
from tests.cli.test_parse_errors import console
from tests.conftest import CONFIGS, tiny_data_args

TEACHER = str(CONFIGS / "synthetic/teacher.yaml")


def test_a_fit_ends_with_the_best_epoch_its_figures_the_checkpoint_and_the_wandb_run(
        tiny_root, tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "offline")  # the default logger, writing its run folder, no network
    monkeypatch.delenv("WANDB_QUIET", raising=False)
    main(["fit", "--config", TEACHER, *tiny_data_args(tiny_root), "--trainer.accelerator=cpu",
          "--trainer.max_epochs=3", "--trainer.limit_train_batches=2", "--trainer.enable_progress_bar=false"])
    captured = capfd.readouterr()
    printed = captured.out
    assert "Run summary:" not in captured.out + captured.err  # W&B's own 30-300 lines: off by default

    summary = printed[printed.index("Best epoch"):]
    best = re.match(r"Best epoch (\d+) of 0-2 \(lowest val/loss\): val/top1 [\d.]+ %, val/top5 [\d.]+ %, "
                    r"val/loss ([\d.]+)", summary)
    assert best, summary
    checkpoint = Path(re.search(r"^  checkpoint  (\S+)$", summary, re.MULTILINE).group(1))
    saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
    assert int(best.group(1)) == saved["epoch"]  # the epoch the summary names is the one kept
    callback = next(v for k, v in saved["callbacks"].items() if k.startswith("ModelCheckpoint"))
    assert abs(float(best.group(2)) - float(callback["best_model_score"])) < 1e-3
    run = re.search(r"^  W&B run     (\S+) \(offline; upload: wandb sync \1\)$", summary, re.MULTILINE)
    assert run and Path(run.group(1)).is_dir() and Path(run.group(1)).name.startswith("offline-run-")
    assert len(summary.strip().splitlines()) == 3


def test_the_device_report_is_shown_once_per_process():
    logger = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    installed = [f for f in logger.filters if isinstance(f, _LightningNotices)]
    for f in installed:  # an earlier test's filter has seen the report already: start afresh
        logger.removeFilter(f)
    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())
    logger.addHandler(handler)
    # Lightning's level as a fresh process has it: a benchmark run earlier in this process (quiet_lightning)
    # may have raised it, and then no report would be logged at all.
    levels = {name: logging.getLogger(name).level for name in ("lightning.pytorch", logger.name)}
    for name in levels:
        logging.getLogger(name).setLevel(logging.INFO)
    try:
        L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False)  # before: every time
        quiet_third_party_notices()
        quiet_third_party_notices()  # twice: still one filter
        for _ in range(3):
            L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False)
    finally:
        logger.removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        for f in [f for f in logger.filters if isinstance(f, _LightningNotices)]:
            logger.removeFilter(f)
        for f in installed:
            logger.addFilter(f)
    gpu = [m for m in seen if m.startswith("GPU available:")]
    assert len(gpu) == 2  # the unfiltered trainer's, then one for the three filtered ones
    assert sum(m.startswith("TPU available:") for m in seen) == 2


@pytest.mark.parametrize(("argv", "said"), [
    (["fit", "--config", TEACHER, "--trainer.max_epochz", "3"],
     "unknown option --trainer.max_epochz. Did you mean --trainer.max_epochs"),
    (["fit", "--config", "configs/synthetic/teachr.yaml"],
     "--config configs/synthetic/teachr.yaml: no such file, here or among the shipped configs. Did you mean "
     "configs/synthetic/teacher.yaml"),
    (["fit", "--config", TEACHER, "--model.init_args.lrr", "0.1"],
     "--model.init_args.lrr: TeacherModule has no option 'lrr'. Did you mean lr? TeacherModule takes: "),
    (["fitt", "--config", TEACHER], "unknown command 'fitt'. Did you mean fit? Commands: fit, validate"),
    (["fit", "--config", TEACHER, "--trainer.max_epochs", "many"], "--trainer.max_epochs many: expected int"),
    (["predict", "--config", TEACHER, "--top_kk", "3"], "unknown option --top_kk. Did you mean --top_k?"),
    # dlkdd's own commands (jsonargparse too) say it the same way, naming the command's --help
    (["watch", "night.mp4", "--ckpt_path", "best.ckpt", "--hopp", "1"],
     "unknown option --hopp. Did you mean --hop, --help, --top_k? (`dlkdd watch --help` lists every option)"),
    (["calibrate", "night.mp4", "--ckpt_path", "best.ckpt", "--outptu", "s.json"],
     "unknown option --outptu. Did you mean --output, --hop? (`dlkdd calibrate --help` lists every option)"),
    (["export", "--output", "student.onnx"],
     "the following arguments are required: --ckpt_path (`dlkdd export --help` lists every option)"),
    (["watch", "night.mp4", "--ckpt_path", "best.ckpt", "--batch_size", "many"],
     "--batch_size many: expected int (`dlkdd watch --help` lists every option)"),
    (["watch", "night.mp4"], "one of the arguments --ckpt_path --model_file is required"),
    (["quickstart", "--trainer.max_epochs=1", "--configs"], "argument --configs: expected one argument"),
    (["preview", "--clips", "0"], "--clips must be >= 1, got 0 (`dlkdd preview --help` lists every option)"),
])
def test_a_mistyped_command_line_is_one_paragraph_naming_the_closest_choices(
        argv, said, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no local configs/: the shipped ones are the candidates
    message = console(monkeypatch, capsys, *argv)
    assert message.startswith(f"dlkdd: error: {said}"), message
    assert "usage:" not in message and "\n" not in message.split("(set DLKDD_TRACEBACK")[0].strip()


def test_watch_options_are_watch_options_fields_with_their_docstring():
    """`dlkdd watch`'s event, alert and stream options come from WatchOptions: same defaults, the help of
    its docstring (event settings: None unless given, so --settings and the model's own can apply)."""
    import docstring_parser

    from dlkdd.watch.command import CLI_FIELDS, EVENT_OPTIONS, build_parser
    from dlkdd.watch.pipeline import WatchOptions

    parser, defaults = build_parser(), WatchOptions()
    docs = {p.arg_name: p.description for p in docstring_parser.parse(WatchOptions.__doc__).params}
    actions = {a.dest: a for a in parser._actions}
    for name in CLI_FIELDS:
        assert actions[name].help.startswith(docs[name]), name
        expected = None if name in EVENT_OPTIONS else getattr(defaults, name)
        assert actions[name].default == expected, name
    args = parser.parse_args(["night.mp4", "--ckpt_path", "best.ckpt", "--smooth", "1", "--alert", "run,fall",
                              "--reconnect", "7"])
    assert (args.smooth, args.alert, args.reconnect, args.event_enter) == (1, ["run", "fall"], 7, None)
    assert args.alert_cooldown == defaults.alert_cooldown and args.model_file is None
