"""Callbacks the `dlkdd` CLI adds to every run: dashboards (W&B), throughput, input checks, predictions,
the summary that ends a fit; PreciseBatchNorm, which a config adds."""

from dlkdd.callbacks.fit_summary import FitSummary
from dlkdd.callbacks.input_check import ClipFitsBackbones
from dlkdd.callbacks.precise_bn import PreciseBatchNorm
from dlkdd.callbacks.prediction_writer import PredictionWriter
from dlkdd.callbacks.throughput import ThroughputMonitor
from dlkdd.callbacks.wandb_media import PairedClipsToWandb, TestReportToWandb
from dlkdd.callbacks.wandb_run import LogConfigToRun, default_wandb_logger

__all__ = [
    "ClipFitsBackbones",
    "FitSummary",
    "LogConfigToRun",
    "PairedClipsToWandb",
    "PreciseBatchNorm",
    "PredictionWriter",
    "TestReportToWandb",
    "ThroughputMonitor",
    "default_wandb_logger",
]
