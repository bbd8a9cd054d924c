"""The accuracy metrics every stage reports: top-1/top-5 (micro) and per-class accuracy."""

from __future__ import annotations

from collections.abc import Sequence

from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy
from torchmetrics.wrappers import ClasswiseWrapper


def accuracy_metrics(num_classes: int, class_names: Sequence[str] | None, stage: str) -> MetricCollection:
    """Keys: {stage}/top1, {stage}/top5 and {stage}/acc/<class name>.

    `average="micro"` is the accuracy papers report; torchmetrics' default ("macro") is not.
    """
    labels = list(class_names) if class_names else [str(i) for i in range(num_classes)]
    return MetricCollection(
        {
            "top1": MulticlassAccuracy(num_classes, top_k=1, average="micro"),
            "top5": MulticlassAccuracy(num_classes, top_k=min(5, num_classes), average="micro"),
            "per_class": ClasswiseWrapper(
                MulticlassAccuracy(num_classes, average=None), labels=labels, prefix="acc/"
            ),
        },
        prefix=f"{stage}/",
        # Compute groups merge metrics whose states match after the first update; top-1 and top-5 match
        # on a batch where no label is in the top 5 but not the top 1, and were then reported as one.
        compute_groups=False,
    )
