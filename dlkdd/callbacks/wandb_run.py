"""The default W&B logger: project dlkdd, a run named from dataset/stage/backbone, offline when no key."""

from __future__ import annotations

import netrc
import os
from pathlib import Path
from urllib.parse import urlsplit

import wandb
import yaml
from lightning.pytorch.cli import SaveConfigCallback
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_info

PROJECT = "dlkdd"
# Class name -> the stage it trains; a teacher on the original view is the student-alone baseline, and any
# classifier fitted on a pretraining corpus (dlkdd's bright generated "Kinetics") is stage 0, pretraining.
STAGES = {"TeacherModule": "teacher", "DistillModule": "distill"}
PRETRAINING_CORPORA = {"synthetic_bright"}


def wandb_key_found() -> bool:
    """An API key in WANDB_API_KEY or in ~/.netrc (or $NETRC) for the W&B host, as `wandb login` writes."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlsplit(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).netloc
    try:
        return netrc.netrc(os.environ.get("NETRC")).authenticators(host) is not None
    except (FileNotFoundError, netrc.NetrcParseError):
        return False


def stage_name(model_class: str, view: str | None) -> str:
    name = model_class.rsplit(".", 1)[-1]
    if name == "TeacherModule" and view == "original":
        return "baseline"
    return STAGES.get(name, name.removesuffix("Module").lower())


def run_name(dataset: str, model_class: str, init_args: dict) -> str:
    """E.g. "synthetic-teacher-tiny_r2plus1d": what W&B run tables are read by."""
    stage = "pretrain" if dataset in PRETRAINING_CORPORA else stage_name(model_class, init_args.get("view"))
    parts = [dataset, stage]
    if init_args.get("backbone"):
        parts.append(init_args["backbone"])
    return "-".join(parts)


def default_wandb_logger(dataset: str, model_class: str, init_args: dict, job_type: str | None = None
                         ) -> WandbLogger:
    """Runs land in runs/<dataset>/wandb/. Offline, unless a key is found or WANDB_MODE says otherwise."""
    offline = "WANDB_MODE" not in os.environ and not wandb_key_found()
    name = run_name(dataset, model_class, init_args)
    save_dir = Path("runs") / dataset
    save_dir.mkdir(parents=True, exist_ok=True)
    # W&B's own console output (a history and a summary of every logged key at the end: 30-300 lines a run)
    # is off: dlkdd says where the run is, at its start and in the fit's summary. WANDB_QUIET=false brings
    # it back (W&B reads the variable itself).
    settings = {} if "WANDB_QUIET" in os.environ else {"settings": wandb.Settings(quiet=True)}
    return WandbLogger(
        project=PROJECT, name=name, group=name, job_type=job_type, save_dir=str(save_dir), offline=offline,
        **settings,
    )


class LogConfigToRun(SaveConfigCallback):
    """Saves the resolved config where the run's logs are: for W&B, in the run (as its config, searchable
    in the dashboard, and as a config.yaml file); for CSV/TensorBoard, config.yaml in the version folder.
    Without a logger nothing is written (Lightning would drop a config.yaml in the working directory)."""

    def setup(self, trainer, pl_module, stage: str) -> None:
        # A W&B log_dir is runs/<dataset>, shared by every stage: the file would be overwritten.
        self.save_to_log_dir = trainer.logger is not None and not isinstance(trainer.logger, WandbLogger)
        super().setup(trainer, pl_module, stage)

    def save_config(self, trainer, pl_module, stage: str) -> None:
        logger = trainer.logger
        if not isinstance(logger, WandbLogger):
            return
        run = logger.experiment
        if getattr(run, "disabled", False):  # WANDB_MODE=disabled: a stand-in run with no folder
            return
        text = self.parser.dump(self.config, skip_none=False)
        run.config.update({"config": yaml.safe_load(text)}, allow_val_change=True)
        (Path(run.dir) / "config.yaml").write_text(text)
        if run.offline:
            run_dir = Path(run.dir).parent
            rank_zero_info(f"W&B is offline (no API key found, or WANDB_MODE=offline): the run is in "
                           f"{run_dir}; upload it with `wandb login` then `wandb sync {run_dir}`.")
