"""`dlkdd predict` output: one row per video (path, top-k classes and probabilities, label when known),
unreadable videos as rows with an error, as CSV or JSON Lines (chosen by the file's extension). Under
DDP the processes' rows are gathered and rank 0 writes the one file."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import torch.distributed
from lightning.pytorch.callbacks import BasePredictionWriter

FORMATS = (".csv", ".jsonl")


def csv_columns(top_k: int) -> list[str]:
    ranked = [f"{name}{k}" for k in range(1, top_k + 1) for name in ("top", "prob")]
    return ["path", "label", *ranked, "error"]


class PredictionWriter(BasePredictionWriter):
    """Args:
        output: the file to write, `.csv` or `.jsonl`.
        top_k: how many classes (most probable first) each row names.
    """

    def __init__(self, output: str | Path, top_k: int = 5) -> None:
        super().__init__(write_interval="batch")
        self.output = Path(output)
        if self.output.suffix not in FORMATS:
            raise ValueError(
                f"--output {self.output}: unknown format {self.output.suffix!r}; "
                f"end the file name with {' or '.join(FORMATS)}, e.g. --output predictions.csv"
            )
        if top_k < 1:
            raise ValueError(f"--top_k must be >= 1, got {top_k}")
        self.top_k = top_k
        self.rows: dict[str, dict] = {}  # path -> row

    def on_predict_epoch_start(self, trainer, pl_module) -> None:
        self.rows = {}

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx,
                           dataloader_idx) -> None:
        if prediction is None:  # every video of the batch was unreadable: reported at the end
            return
        names = pl_module.hparams.get("class_names") or []
        data_names = trainer.datamodule.class_names
        items = trainer.predict_dataloaders.dataset.items
        probs = prediction["probs"].float().cpu()
        top = probs.topk(min(self.top_k, probs.shape[1]), dim=1)
        for row, index in enumerate(prediction["index"].tolist()):
            label = int(prediction["label"][row])
            path = str(items[index].path)
            self.rows[path] = {
                "path": path,
                "label": data_names[label] if 0 <= label < len(data_names) else None,
                "classes": [names[k] if k < len(names) else str(k) for k in top.indices[row].tolist()],
                "probs": [round(p, 6) for p in top.values[row].tolist()],
                "error": None,
            }

    def on_predict_epoch_end(self, trainer, pl_module) -> None:
        data = trainer.datamodule
        predicted, failed = self.rows, data.failed_videos
        if trainer.world_size > 1:
            # Each process predicted (and found broken) its own share of the videos: rank 0 writes them all.
            shares = [None] * trainer.world_size
            torch.distributed.all_gather_object(shares, (predicted, failed))
            predicted = {path: row for rows, _ in shares for path, row in rows.items()}
            failed = {path: error for _, errors in shares for path, error in errors.items()}
        if not trainer.is_global_zero:
            return
        # In the order the split lists them; a video found broken (up front or while decoding) is a row
        # with its reason instead of a prediction.
        listed = [str(item.path) for item in data.source.items(data.hparams.predict_split)]
        rows = [predicted.get(path) or {"path": path, "label": None, "classes": [], "probs": [],
                                        "error": failed[path]}
                for path in listed if path in predicted or path in failed]
        self.output.parent.mkdir(parents=True, exist_ok=True)
        if self.output.suffix == ".csv":
            self._write_csv(rows)
        else:
            self.output.write_text("".join(json.dumps(row) + "\n" for row in rows))
        print(summary(rows, self.output))

    def _write_csv(self, rows: list[dict]) -> None:
        with self.output.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(csv_columns(self.top_k))
            for row in rows:
                ranked = []
                for k in range(self.top_k):
                    has = k < len(row["classes"])
                    ranked += [row["classes"][k] if has else "", row["probs"][k] if has else ""]
                writer.writerow([row["path"], row["label"] or "", *ranked, row["error"] or ""])


def summary(rows: list[dict], output: Path) -> str:
    """A few lines for the terminal: how many, how many failed, accuracy where labels exist, top classes."""
    good = [r for r in rows if r["error"] is None]
    failed = len(rows) - len(good)
    lines = [f"Wrote {len(rows)} predictions to {output}"
             + (f" ({failed} unreadable videos: rows with an error)" if failed else "")]
    labeled = [r for r in good if r["label"] is not None]
    if labeled:
        correct = sum(r["classes"][0] == r["label"] for r in labeled)
        lines.append(f"  top-1 on the {len(labeled)} labeled videos: {100 * correct / len(labeled):.2f} %")
    most = Counter(r["classes"][0] for r in good).most_common(3)
    if most:
        lines.append("  most predicted: " + ", ".join(f"{name} ({count})" for name, count in most))
    return "\n".join(lines)
