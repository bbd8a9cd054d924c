"""The `dlkdd` command: LightningCLI over the dlkdd modules (fit / validate / test / predict)."""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
from pathlib import Path

import lightning as L
import wandb
from lightning.pytorch.callbacks import Callback, LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.loggers import Logger, WandbLogger
from lightning.pytorch.plugins import CheckpointIO

import dlkdd.models  # noqa: F401  (registers the modules, so `class_path: TeacherModule` resolves)
from dlkdd.callbacks import (
    ClipFitsBackbones,
    FitSummary,
    LogConfigToRun,
    PairedClipsToWandb,
    PredictionWriter,
    TestReportToWandb,
    ThroughputMonitor,
    default_wandb_logger,
)
from dlkdd.checkpointing import SafeCheckpointIO, UnsafeCheckpointError, read_checkpoint
from dlkdd.console import quiet_third_party_notices
from dlkdd.data import DarkVideoDataModule
from dlkdd.parse_errors import MODEL_FILE_HELP, CommandLineError, HelpFormatter, explain
from dlkdd.shipped import resolve_config_args

# Every `dlkdd` command: name -> (what it does, the module whose main(argv) runs it; None: LightningCLI's).
COMMANDS = {
    "quickstart": ("the whole pipeline on generated dark video, on a CPU (about 3 minutes)",
                   "dlkdd.quickstart"),
    "fit": ("train: the enhancer, the teacher (stage 1) or the student (stage 2)", None),
    "validate": ("evaluate a checkpoint on the validation split", None),
    "test": ("evaluate a checkpoint on the test split", None),
    "predict": ("one label per video -> a CSV or JSON Lines file", None),
    "watch": ("long recordings and live streams: timeline, events, alerts, annotated video",
              "dlkdd.watch.command"),
    "calibrate": ("event settings that maximise event F1 on annotated recordings (for watch)",
                  "dlkdd.watch.calibrate"),
    "export": ("the student as ONNX or TorchScript, verified against the checkpoint",
               "dlkdd.inference.export"),
    "preview": ("the original clip next to each enhancer's view (png, mp4)", "dlkdd.preview"),
    "configs": ("copy the shipped configs to a folder, to edit them", "dlkdd.shipped"),
}
# The commands beside LightningCLI's fit/validate/test/predict: name -> module with main(argv).
EXTRA_COMMANDS = {name: module for name, (_, module) in COMMANDS.items() if module}

DESCRIPTION = """\
Action recognition in dark video by dual-light knowledge distillation: a teacher learns from an
enhanced view of each dark clip, a student from the dark clip itself; only the student runs at the end.

Commands (`dlkdd <command> --help` lists each one's options):
""" + "".join(f"  dlkdd {name:<16}{text}\n" for name, (text, _) in COMMANDS.items()) + """
Examples:
  dlkdd fit  --config configs/synthetic/teacher.yaml       stage 1: teacher on the enhanced view
  dlkdd fit  --config configs/synthetic/distill.yaml       stage 2: student on the original view
  dlkdd test --config configs/synthetic/distill.yaml --ckpt_path runs/synthetic/distill/checkpoints/best.ckpt
  dlkdd watch night.mp4 --ckpt_path runs/synthetic/distill/checkpoints/best.ckpt --video

--ckpt_path is always a checkpoint `dlkdd fit` wrote (.ckpt); --model_file a file `dlkdd export` wrote
(.onnx, .pt), for the commands that run a model (predict, watch, calibrate).

Runs log to Weights & Biases (project dlkdd, offline until `wandb login`); --trainer.logger=false
turns logging off. Documentation: docs/ (mkdocs serve), or the README.
"""

SUBCOMMAND_HELP = {
    "fit": """\
Train a model. Examples:
  dlkdd fit --config configs/synthetic/teacher.yaml
  dlkdd fit --config configs/arid/teacher.yaml --data.root /data/ARID --trainer.max_epochs 50
  dlkdd fit --config configs/arid/distill.yaml --data.root /data/ARID \\
      --model.init_args.teacher_checkpoint runs/arid/teacher/checkpoints/best.ckpt
  dlkdd fit --config configs/synthetic/teacher.yaml --trainer.logger false      (no W&B)
""",
    "validate": """\
Evaluate a checkpoint on the validation split. Example:
  dlkdd validate --config configs/synthetic/distill.yaml \\
      --ckpt_path runs/synthetic/distill/checkpoints/best.ckpt
""",
    "test": """\
Evaluate a checkpoint on the test split (confusion matrix and predictions table in W&B). Example:
  dlkdd test --config configs/arid/distill.yaml --data.root /data/ARID \\
      --ckpt_path runs/arid/distill/checkpoints/best.ckpt
""",
    "predict": """\
Predict the action of each video and write a CSV or JSON Lines file (path, top-k classes and
probabilities, the label when the data has one; unreadable videos are rows with an error). Examples:
  dlkdd predict --config configs/synthetic/distill.yaml \\
      --ckpt_path runs/synthetic/distill/checkpoints/best.ckpt
  dlkdd predict --config configs/folder/distill.yaml --data.root my_dark_videos \\
      --ckpt_path runs/folder/distill/checkpoints/best.ckpt --output predictions.jsonl --top_k 3
  dlkdd predict --config configs/synthetic/distill.yaml --data.dataset videos \\
      --data.root my_night_clips/ --ckpt_path runs/synthetic/distill/checkpoints/best.ckpt
It runs on --data.predict_split (default: test) of the data, e.g. my_dark_videos/test/<class>/<video>;
with --data.dataset videos on every video under a folder, or listed in a text file (one path a line),
no labels needed (class names come from the checkpoint).
""",
}


def unreadable_checkpoint(path: str, err: BaseException) -> str:
    return (f"--ckpt_path {path} is not a readable checkpoint ({str(err).splitlines()[0]}); was it copied "
            "whole? Pass a checkpoint `dlkdd fit` wrote.")


class DlkddCLI(LightningCLI):
    def add_arguments_to_parser(self, parser) -> None:
        # The data decides the label space; the model never has to be told twice. A module without
        # these arguments (e.g. an enhancer) is simply not linked: jsonargparse skips the link.
        parser.link_arguments("data.num_classes", "model.init_args.num_classes", apply_on="instantiate")
        parser.link_arguments("data.class_names", "model.init_args.class_names", apply_on="instantiate")

    def _prepare_subcommand_parser(self, klass: type, subcommand: str, **kwargs):
        # LightningCLI offers no public hook for options of one subcommand only; these belong to predict.
        parser = super()._prepare_subcommand_parser(klass, subcommand, **kwargs)
        if subcommand == "predict":
            parser.add_argument("--output", default="predictions.csv",
                                help="file to write: .csv or .jsonl")
            parser.add_argument("--top_k", type=int, default=5, help="classes per video, most probable first")
            parser.add_argument("--model_file", default=None, help=MODEL_FILE_HELP)
            # Without --config: the model comes from --model_file (or from the --ckpt_path checkpoint).
            parser.set_defaults(model={"class_path": "dlkdd.inference.predict_file.ExportedFileModule"})
        return parser

    def parse_arguments(self, parser, args) -> None:
        # A mistyped option or config path: one paragraph with the closest valid choices, not the usage dump
        # jsonargparse prints (the parsers are made with exit_on_error=False, so its error arrives here).
        try:
            super().parse_arguments(parser, args)
        except argparse.ArgumentError as err:
            argv = sys.argv[1:] if args is None else [str(a) for a in args]
            raise CommandLineError(explain(err, argv, self._subcommand_parsers, EXTRA_COMMANDS)) from None

    def _parse_ckpt_path(self) -> None:
        # LightningCLI reads --ckpt_path's hyper-parameters while parsing: a damaged file fails right there.
        try:
            super()._parse_ckpt_path()
        except (RuntimeError, EOFError) as err:
            ckpt_path = self.config[self.config.subcommand].ckpt_path
            raise ValueError(unreadable_checkpoint(ckpt_path, err)) from None

    def instantiate_trainer(self, **kwargs) -> L.Trainer:
        trainer_config = self._get(self.config_init, "trainer", default={})
        logger = trainer_config.get("logger")
        if logger is None or logger is True:  # not chosen by the user: W&B, except for predict, whose
            # result is its file (a run per prediction job would only clutter the project).
            logger = kwargs["logger"] = False if self.subcommand == "predict" else self._default_logger()
        callbacks = trainer_config.get("callbacks") or []
        callbacks = list(callbacks) if isinstance(callbacks, list) else [callbacks]
        kwargs["callbacks"] = callbacks + self._run_callbacks(logger, callbacks)
        plugins = trainer_config.get("plugins") or []
        plugins = list(plugins) if isinstance(plugins, list) else [plugins]
        if not any(isinstance(p, CheckpointIO) for p in plugins):  # every run reads/writes checkpoints safely
            kwargs["plugins"] = [*plugins, SafeCheckpointIO()]
        return super().instantiate_trainer(**kwargs)

    def _default_logger(self) -> WandbLogger:
        model = self._get(self.config, "model")
        init_args = model.init_args.as_dict() if model.get("init_args") else {}
        logger = default_wandb_logger(self._get(self.config, "data").dataset, model.class_path, init_args,
                                      job_type=self.subcommand)
        # Lightning passes anonymous=None to wandb.init, which W&B >= 0.19 warns about on every run.
        logger._wandb_init.pop("anonymous", None)
        return logger

    def _run_callbacks(self, logger, configured: list[Callback]) -> list[Callback]:
        """The callbacks every run gets, whatever its config: dashboards, throughput, input checks."""
        loggers = logger if isinstance(logger, list) else [logger] if isinstance(logger, Logger) else []
        extra: list[Callback] = [ThroughputMonitor(), ClipFitsBackbones()]
        if loggers and not any(isinstance(c, LearningRateMonitor) for c in configured):
            extra.append(LearningRateMonitor(logging_interval="step"))
        if any(isinstance(lg, WandbLogger) for lg in loggers):
            extra += [PairedClipsToWandb(), TestReportToWandb()]
        if self.subcommand == "fit":
            extra.append(FitSummary())
        if self.subcommand == "predict":
            options = self.config_init.predict
            extra.append(PredictionWriter(options.output, options.top_k))
        return extra

    def _finish_wandb_run(self) -> None:
        # One W&B run per command: without this, the next command in the same process (quickstart's
        # fit then test) would log into this run, as WandbLogger reuses a run still in progress.
        if isinstance(self.trainer.logger, WandbLogger):
            wandb.finish()  # a no-op when the run never started

    after_fit = after_validate = after_test = after_predict = _finish_wandb_run

    def _check_checkpoint_classes(self) -> None:
        """A checkpoint trained for K classes run on data with another count would fail deep inside
        load_state_dict with a size mismatch; say which counts differ and what to run instead."""
        ckpt_path = self._get(self.config, "ckpt_path")
        if not ckpt_path or ckpt_path in ("last", "best", "hpc", "registry"):  # Lightning's own names
            return
        if not os.path.isfile(ckpt_path):
            raise FileNotFoundError(f"--ckpt_path {ckpt_path}: no such file. Pass a checkpoint `dlkdd fit` "
                                    "wrote, e.g. runs/<dataset>/<stage>/checkpoints/best.ckpt.")
        try:
            saved = read_checkpoint(ckpt_path).get("hyper_parameters", {})
        except (RuntimeError, EOFError) as err:  # not a torch file, or cut short
            raise ValueError(unreadable_checkpoint(ckpt_path, err)) from None
        classes = getattr(self.model, "hparams", {}).get("num_classes")
        if classes is None:
            return
        trained = saved.get("num_classes")
        if trained is None or trained == classes:
            return
        data = self._get(self.config, "data")
        names = saved.get("class_names") or []
        shown = f" ({', '.join(names[:5])}{', ...' if len(names) > 5 else ''})" if names else ""
        raise ValueError(
            f"--ckpt_path {ckpt_path} was trained for {trained} classes{shown}, but the data "
            f"(--data.dataset {data.dataset}, --data.root {data.root}) has {classes} classes. Run it on "
            "the data it was trained on, or, to predict unlabelled videos with the checkpoint's own "
            "classes, use `dlkdd predict ... --data.dataset videos --data.root <folder or list of videos>`."
        )

    before_validate = before_test = before_predict = _check_checkpoint_classes

    def before_fit(self) -> None:
        self._check_checkpoint_classes()
        self._refuse_another_runs_folder()

    def _refuse_another_runs_folder(self) -> None:
        """A new fit whose checkpoint folder holds a checkpoint for other classes (e.g. a synthetic
        config pointed at one's own folder, keeping the config's run folder) would silently replace that
        run's best.ckpt: stop and say how to keep both. Resuming (--ckpt_path) is the same run."""
        folder = getattr(self.trainer.checkpoint_callback, "dirpath", None)
        classes = getattr(self.model, "hparams", {}).get("class_names")
        if self._get(self.config, "ckpt_path") or not folder or not classes or not os.path.isdir(folder):
            return
        for path in sorted(Path(folder).glob("*.ckpt")):
            try:
                saved = read_checkpoint(str(path)).get("hyper_parameters", {})
            except (RuntimeError, EOFError, UnsafeCheckpointError):
                continue  # not ours to judge; Lightning overwrites what it must
            other = saved.get("class_names")
            if other and list(other) != list(classes):
                shown = ", ".join(other[:4]) + (", ..." if len(other) > 4 else "")
                raise ValueError(
                    f"--trainer.callbacks.init_args.dirpath {folder} holds {path.name}, a checkpoint of "
                    f"another run ({len(other)} classes: {shown}), which this fit ({len(classes)} classes) "
                    "would overwrite. Pass a folder of this run's own, e.g. "
                    "--trainer.callbacks.init_args.dirpath runs/<your data>/<stage>/checkpoints, or delete "
                    "the old run's folder if it is no longer wanted.")

    def _name_run_folders(self) -> None:
        """A ModelCheckpoint given no dirpath writes to runs/<dataset>/<stage>/checkpoints, the stage being
        the name of the (last) --config file, or the model's kind without one: so one stage file serves
        every dataset (configs/arid/teacher.yaml -> runs/arid/teacher/checkpoints). Set in the config, not
        on the callback, so the config saved with the run names the folder too."""
        callbacks = self._get(self.config, "trainer").get("callbacks") or []
        unnamed = [c for c in (callbacks if isinstance(callbacks, list) else [callbacks])
                   if c.get("init_args") is not None and c.init_args.get("dirpath") is None
                   and issubclass(_class(c.class_path), ModelCheckpoint)]
        if not unnamed:
            return
        files = [f for f in self._get(self.config, "config") or [] if f is not None]
        if files:
            stage = Path(str(files[-1])).stem
        else:  # TeacherModule -> teacher, TwoStreamModule -> two_stream
            kind = self._get(self.config, "model").class_path.rpartition(".")[2].removesuffix("Module")
            stage = re.sub(r"(?<!^)(?=[A-Z])", "_", kind).lower()
        for callback in unnamed:
            callback.init_args.dirpath = f"runs/{self._get(self.config, 'data').dataset}/{stage}/checkpoints"

    def before_instantiate_classes(self) -> None:
        self._name_run_folders()
        if self.subcommand != "predict":
            return
        config = self.config.predict
        if config.model_file:  # an exported file: its runner replaces the model, its clip settings the data's
            from dlkdd.inference.predict_file import use_model_file

            return use_model_file(config)
        if not config.ckpt_path:
            raise ValueError(
                "dlkdd predict needs trained weights: pass --ckpt_path, e.g. "
                "--ckpt_path runs/synthetic/distill/checkpoints/best.ckpt (written by `dlkdd fit`), or "
                "--model_file student.onnx (written by `dlkdd export`)."
            )
        # Unlabeled videos (--data.dataset videos) have no classes of their own: the model's are used, so
        # num_classes and class_names link into the model as for any dataset.
        if not os.path.isfile(config.ckpt_path):
            raise FileNotFoundError(f"--ckpt_path {config.ckpt_path}: no such file. Pass the checkpoint "
                                    "`dlkdd fit` wrote, e.g. runs/synthetic/distill/checkpoints/best.ckpt.")
        if config.data.class_names is None:
            saved = read_checkpoint(config.ckpt_path).get("hyper_parameters", {})
            config.data.class_names = saved.get("class_names")


def _class(class_path: str) -> type:
    module, _, name = class_path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def main(args: list[str] | None = None, run: bool = True) -> DlkddCLI:
    """Run the CLI on `args` (sys.argv when None) and return it, so tests can read its trainer.
    A --config/--data that names no local file but a shipped config reads the shipped one."""
    argv = sys.argv[1:] if args is None else list(args)
    if resolve_config_args(argv) != argv:
        args = resolve_config_args(argv)
    return DlkddCLI(
        L.LightningModule,  # any dlkdd module: classifiers and enhancers alike
        DarkVideoDataModule,
        subclass_mode_model=True,
        auto_configure_optimizers=False,  # the modules own their optimizer and schedule
        save_config_callback=LogConfigToRun,
        save_config_kwargs={"overwrite": True},
        parser_kwargs={"prog": "dlkdd", "description": DESCRIPTION, "formatter_class": HelpFormatter,
                       "exit_on_error": False,  # parse errors become one paragraph: DlkddCLI.parse_arguments
                       **{name: {"description": text, "formatter_class": HelpFormatter,
                                 "exit_on_error": False} for name, text in SUBCOMMAND_HELP.items()}},
        args=args,
        run=run,
    )


# What a configuration mistake raises (dlkdd's messages name the option and the fix).
USAGE_ERRORS = (ValueError, KeyError, FileNotFoundError, UnsafeCheckpointError)


def usage_error_message(err: BaseException) -> str:
    """The message of the error the user must act on. jsonargparse re-raises a failed model or data
    instantiation as "Does not validate against any of the Union subtypes", the original underneath."""
    while isinstance(err.__cause__ or err.__context__, USAGE_ERRORS):
        err = err.__cause__ or err.__context__
    return str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)


def run() -> None:
    """Console entry point (its return value would become the exit status, so it returns None).

    A configuration mistake prints its message, not a traceback through LightningCLI and jsonargparse;
    DLKDD_TRACEBACK=1 shows the traceback too."""
    command = sys.argv[1] if len(sys.argv) > 1 else None
    quiet_third_party_notices()
    try:
        if command in EXTRA_COMMANDS:
            importlib.import_module(EXTRA_COMMANDS[command]).main(sys.argv[2:])
        else:
            main()
    except USAGE_ERRORS as err:
        if os.environ.get("DLKDD_TRACEBACK"):
            raise
        sys.exit(f"dlkdd: error: {usage_error_message(err)}\n"
                 "(set DLKDD_TRACEBACK=1 to see where it was raised)")
