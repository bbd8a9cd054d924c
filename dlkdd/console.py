"""What `dlkdd`'s commands print: third-party notices that say nothing about the user's run are dropped,
and Lightning's device report (GPU/TPU available) is shown once per process.

Each filter names one notice by its text, so every other warning (about the data, the model, the
trainer's settings) still reaches the console. Applied by the console entry point only: a library user
or a test calling dlkdd.cli.main keeps Python's and Lightning's defaults.
"""

from __future__ import annotations

import logging
import warnings

# Lightning's advertisements for its cloud products, logged at INFO on rank 0 at every fit.
_LIGHTNING_TIPS = "💡 Tip:"
_LIGHTNING_LOGGERS = ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero")
_WARNINGS = (
    # lightning's own _pytree copy uses a torch API that torch >= 2.8 deprecates; nothing a user can change.
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",
    # LightningCLI warns when args= is passed while sys.argv has arguments: exactly what dlkdd's own
    # commands do when they run fit/test steps (quickstart), not a user's mistake.
    r"LightningCLI's args parameter is intended to run from within Python",
)


# Lightning's device report, logged by every Trainer: a command that runs several fits and tests
# (quickstart: eight) would repeat it each time: shown once per process, as the machine does not change.
_DEVICE_REPORT = ("GPU available:", "TPU available:", "HPU available:", "IPU available:")


class _LightningNotices(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.reported: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        if message.startswith(_DEVICE_REPORT):
            if message in self.reported:
                return False
            self.reported.add(message)
        return not message.startswith(_LIGHTNING_TIPS)


def quiet_third_party_notices() -> None:
    for name in _LIGHTNING_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _LightningNotices) for f in logger.filters):
            logger.addFilter(_LightningNotices())
    for message in _WARNINGS:
        warnings.filterwarnings("ignore", message=message)
