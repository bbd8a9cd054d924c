"""The files `dlkdd watch` writes as it goes, one flushed row at a time (a crash keeps what was written):
the timeline (one row per window, CSV or JSON Lines) and the events file (events and alerts, JSON Lines)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from torch import Tensor

from dlkdd.watch.windows import Window

TIMELINE_FORMATS = (".csv", ".jsonl")


class TimelineWriter:
    def __init__(self, path: Path, class_names: list[str], top_k: int = 3) -> None:
        if path.suffix not in TIMELINE_FORMATS:
            raise ValueError(f"--timeline {path}: end the name with .csv or .jsonl")
        if top_k < 1:
            raise ValueError(f"--top_k must be >= 1, got {top_k}")
        self.path, self.class_names = path, class_names
        self.top_k = min(top_k, len(class_names))
        path.parent.mkdir(parents=True, exist_ok=True)
        self.file = path.open("w", newline="")
        self.csv = None
        if path.suffix == ".csv":
            ranked = [f"{name}{k}" for k in range(1, self.top_k + 1) for name in ("top", "prob")]
            self.csv = csv.writer(self.file)
            self.csv.writerow(["start", "end", "wall_clock", *ranked])
            self.file.flush()

    def write(self, window: Window, probs: Tensor) -> None:
        top = probs.topk(self.top_k)
        classes = [self.class_names[k] for k in top.indices.tolist()]
        values = [round(float(p), 4) for p in top.values]
        wall = window.wall_clock.isoformat() if window.wall_clock is not None else None
        start, end = round(window.start, 3), round(window.end, 3)
        if self.csv is not None:
            ranked = [v for pair in zip(classes, values, strict=True) for v in pair]
            self.csv.writerow([start, end, wall or "", *ranked])
        else:
            row = {"start": start, "end": end, **({"wall_clock": wall} if wall else {}),
                   "classes": classes, "probs": values}
            self.file.write(json.dumps(row) + "\n")
        self.file.flush()

    def close(self) -> None:
        self.file.close()


class JsonLinesWriter:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.file = path.open("w")

    def write(self, record: dict) -> None:
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()

    def close(self) -> None:
        self.file.close()
