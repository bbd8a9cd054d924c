"""Broken videos: each reported once by name, counted per split and per epoch, and a run stopped when
too much of a split is broken (training on a gutted dataset would silently skew the result). The data
module keeps the log; the BrokenVideoMonitor callback (dlkdd.callbacks.broken_videos) logs its counts."""

from __future__ import annotations

import sys
from collections import Counter

from lightning.pytorch.utilities import rank_zero_only


class BrokenDatasetError(ValueError):
    """Too large a fraction of a split is unreadable (a data problem the user fixes: `dlkdd` prints its
    message as one error paragraph, a ValueError like every other input mistake)."""


@rank_zero_only
def _notice(line: str) -> None:
    # One plain line per file: a Python warning would add dlkdd's source file and line to each.
    print(line, file=sys.stderr, flush=True)


class BrokenVideoLog:
    """Which videos are broken and why. Files excluded up front (manifest probing) and files that fail
    while decoding a clip are both counted against `max_fraction` of their split."""

    def __init__(self, max_fraction: float) -> None:
        self.max_fraction = max_fraction
        self.reasons: dict[str, str] = {}  # path -> first error, every broken file named once
        self.totals: dict[str, int] = {}  # split -> videos its list names
        self.excluded: dict[str, set[str]] = {}  # split -> paths dropped before the first step
        self.failed: dict[str, set[str]] = {}  # split -> paths that failed while decoding
        self.epoch_failures: Counter[str] = Counter()  # split -> failed items this epoch

    def _report(self, path: str, reason: str) -> None:
        if path not in self.reasons:
            self.reasons[path] = reason
            _notice(f"dlkdd: skipping unreadable video {self.named(path)}")

    def named(self, path: str) -> str:
        """`path: reason`, without naming the path twice (decode errors already start with it)."""
        reason = self.reasons[path]
        return reason if reason.startswith(path) else f"{path}: {reason}"

    def exclude(self, split: str, total: int, broken: dict[str, str]) -> None:
        """Record the files of `split` found broken up front, then enforce the threshold."""
        self.totals[split] = total
        self.excluded[split] = set(broken)
        for path, reason in broken.items():
            self._report(path, reason)
        self.check(split)

    def fail(self, split: str, path: str, reason: str) -> None:
        self._report(path, reason)
        self.epoch_failures[split] += 1
        if path not in self.failed.setdefault(split, set()):
            self.failed[split].add(path)
            self.check(split)

    def broken_count(self, split: str) -> int:
        return len(self.excluded.get(split, set()) | self.failed.get(split, set()))

    def check(self, split: str) -> None:
        total = self.totals.get(split, 0)
        broken = self.broken_count(split)
        if total and broken / total > self.max_fraction:
            examples = sorted(self.excluded.get(split, set()) | self.failed.get(split, set()))[:5]
            raise BrokenDatasetError(
                f"{broken} of the {total} videos of the {split} split are unreadable "
                f"({broken / total:.0%} > --data.max_broken_fraction={self.max_fraction}), e.g. "
                + "; ".join(self.named(p) for p in examples)
                + ". Fix or remove those files (or their list lines), or raise --data.max_broken_fraction "
                "to train on what is left."
            )
