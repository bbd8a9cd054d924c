"""Every Lightning callback of dlkdd, and the one rule that says who attaches each: whoever needs it.

- **Required**: a run is not correct without it (the same run when resumed, faults stopped or skipped
  with the evidence named, broken videos counted). The LightningModule returns it from
  `configure_callbacks` (Lightning's hook, called at the start of fit/validate/test/predict) through
  `required(...)`: once, and only when the trainer holds none of its type, so one chosen in the
  config's `trainer.callbacks` keeps its options (Lightning would replace it with the model's). So a
  run gets these from the `dlkdd` command and from `Trainer.fit(model, datamodule)` alike.
  VideoClassifier (teacher, distillation, two-stream): ExactResume, NonFiniteLoss, WorkerDeathReport,
  BrokenVideoMonitor; EnhancerModule: BrokenVideoMonitor.
- **The command's**: what a `dlkdd` command reports or writes, chosen from its subcommand, logger and
  options (throughput, learning rate, the clip-fits check, W&B media and config, the fit summary, the
  predictions file). `dlkdd.cli.DlkddCLI` adds them after the configured ones (`instantiate_trainer`).
- **Optional**: chosen per run in the config's `trainer.callbacks`, in the order listed
  (ModelCheckpoint, PreciseBatchNorm, EarlyStopping, ...). Lightning runs ModelCheckpoint last whatever
  the order; a config lists it last so `--trainer.callbacks.init_args.*` edits it.
"""

from dlkdd.callbacks.broken_videos import BrokenVideoMonitor
from dlkdd.callbacks.exact_resume import ExactResume
from dlkdd.callbacks.faults import NonFiniteLoss, NonFiniteLossError, WorkerDeathReport
from dlkdd.callbacks.fit_summary import FitSummary
from dlkdd.callbacks.input_check import ClipFitsBackbones
from dlkdd.callbacks.precise_bn import PreciseBatchNorm
from dlkdd.callbacks.prediction_writer import PredictionWriter
from dlkdd.callbacks.required import required
from dlkdd.callbacks.throughput import ThroughputMonitor
from dlkdd.callbacks.wandb_media import PairedClipsToWandb, TestReportToWandb
from dlkdd.callbacks.wandb_run import LogConfigToRun, default_wandb_logger

__all__ = [
    "BrokenVideoMonitor",
    "ClipFitsBackbones",
    "ExactResume",
    "FitSummary",
    "LogConfigToRun",
    "NonFiniteLoss",
    "NonFiniteLossError",
    "PairedClipsToWandb",
    "PreciseBatchNorm",
    "PredictionWriter",
    "TestReportToWandb",
    "ThroughputMonitor",
    "WorkerDeathReport",
    "default_wandb_logger",
    "required",
]
