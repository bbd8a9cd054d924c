"""What `dlkdd`'s commands print: third-party notices that say nothing about the user's run are dropped.

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


class _DropTips(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_LIGHTNING_TIPS)


def quiet_third_party_notices() -> None:
    for name in _LIGHTNING_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropTips) for f in logger.filters):
            logger.addFilter(_DropTips())
    for message in _WARNINGS:
        warnings.filterwarnings("ignore", message=message)
