"""The accuracy metrics every stage reports: top-1/top-5 (micro) and per-class accuracy.

A dataset with the reserved background class (dlkdd.data.sources.BACKGROUND) keeps its background samples
out of top-1/top-5: those are the actions' figures, comparable with datasets that define none (an action
predicted as background still counts as a miss). Its own per-class accuracy is the share of background
clips recognised as such."""

from __future__ import annotations

from collections.abc import Sequence

from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy
from torchmetrics.wrappers import ClasswiseWrapper

from dlkdd.data.sources import background_index


def accuracy_metrics(num_classes: int, class_names: Sequence[str] | None, stage: str) -> MetricCollection:
    """Keys: {stage}/top1, {stage}/top5 and {stage}/acc/<class name>.

    `average="micro"` is the accuracy papers report; torchmetrics' default ("macro") is not.
    """
    labels = list(class_names) if class_names else [str(i) for i in range(num_classes)]
    background = background_index(class_names)
    return MetricCollection(
        {
            "top1": MulticlassAccuracy(num_classes, top_k=1, average="micro", ignore_index=background),
            "top5": MulticlassAccuracy(num_classes, top_k=min(5, num_classes), average="micro",
                                       ignore_index=background),
            "per_class": ClasswiseWrapper(
                MulticlassAccuracy(num_classes, average=None), labels=labels, prefix="acc/"
            ),
        },
        prefix=f"{stage}/",
        # Compute groups merge metrics whose states match after the first update; top-1 and top-5 match
        # on a batch where no label is in the top 5 but not the top 1, and were then reported as one.
        compute_groups=False,
    )
