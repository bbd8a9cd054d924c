"""The `dlkdd` command: LightningCLI over the dlkdd modules (fit / validate / test / predict)."""

from __future__ import annotations

import importlib
import sys

import lightning as L
from lightning.pytorch.cli import LightningCLI

import dlkdd.models  # noqa: F401  (registers the modules, so `class_path: TeacherModule` resolves)
from dlkdd.data import DarkVideoDataModule

DESCRIPTION = """\
Action recognition in dark video by dual-light knowledge distillation.

  dlkdd quickstart                                         whole pipeline on generated dark video (CPU)
  dlkdd fit  --config configs/synthetic/teacher.yaml       stage 1: teacher on the enhanced view
  dlkdd fit  --config configs/synthetic/distill.yaml       stage 2: student on the original view
  dlkdd test --config configs/synthetic/distill.yaml --ckpt_path runs/synthetic/distill/checkpoints/best.ckpt
"""


class DlkddCLI(LightningCLI):
    def add_arguments_to_parser(self, parser) -> None:
        # The data decides the label space; the model never has to be told twice. A module without
        # these arguments (e.g. an enhancer) is simply not linked: jsonargparse skips the link.
        parser.link_arguments("data.num_classes", "model.init_args.num_classes", apply_on="instantiate")
        parser.link_arguments("data.class_names", "model.init_args.class_names", apply_on="instantiate")


def main(args: list[str] | None = None, run: bool = True) -> DlkddCLI:
    """Run the CLI on `args` (sys.argv when None) and return it, so tests can read its trainer."""
    return DlkddCLI(
        L.LightningModule,  # any dlkdd module: classifiers and enhancers alike
        DarkVideoDataModule,
        subclass_mode_model=True,
        auto_configure_optimizers=False,  # the modules own their optimizer and schedule
        save_config_kwargs={"overwrite": True},
        parser_kwargs={"description": DESCRIPTION},
        args=args,
        run=run,
    )


# Commands beside LightningCLI's fit/validate/test/predict: name -> module with main(argv).
EXTRA_COMMANDS = {
    "quickstart": "dlkdd.quickstart",
}


def run() -> None:
    """Console entry point (its return value would become the exit status, so it returns None)."""
    command = sys.argv[1] if len(sys.argv) > 1 else None
    if command in EXTRA_COMMANDS:
        importlib.import_module(EXTRA_COMMANDS[command]).main(sys.argv[2:])
        return
    main()
