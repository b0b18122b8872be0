"""Loss and metric of a task, on output and target tensors only (nothing here knows graphs)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from gatedgcn.errors import ConfigError
from gatedgcn.train.metrics import HIGHER_IS_BETTER, METRICS, UNLABELLED, labelled

__all__ = ["CLASS_WEIGHTS", "KIND_METRICS", "Objective", "batch_class_weights", "balances_batches", "check_metric"]

CLASS_WEIGHTS = ("auto", "batch", "none")  # values of train.class_weights
# task kind -> the metrics that score it (the first: its default)
KIND_METRICS = {
    "classification": ("accuracy", "weighted_accuracy", "f1", "rocauc", "ap"),
    "multilabel": ("rocauc", "ap", "accuracy"),
    "regression": ("mae", "rmse"),
}


def check_metric(kind: str, metric: str, key: str = "train.metric") -> None:
    """Refuse a metric that does not score a task of ``kind`` (:class:`ConfigError` naming ``key``)."""
    if metric not in KIND_METRICS.get(kind, ()):
        raise ConfigError(f"{key}={metric!r} does not score a {kind} task; use one of {', '.join(KIND_METRICS[kind])}")


def batch_class_weights(y: Tensor, num_classes: int) -> Tensor:
    """``w_c = (R - R_c) / R`` for the classes present in ``y`` (labels ``>= 0``), 0 for the others: ``[C]``.

    A batch of a single class gets weight 1 for it (the formula would give 0 and a 0/0 loss).
    """
    y = y[y >= 0].long()  # [R]
    count = torch.bincount(y, minlength=num_classes).to(torch.float32)  # R_c: [C]
    total = max(int(y.numel()), 1)
    w = (total - count) / total * (count > 0)  # [C]
    return w if bool(w.any()) else (count > 0).float()


def balances_batches(class_weights: str, kind: str, dataset_rule: bool) -> bool:
    """Whether the loss weights each batch's classes (``train.class_weights``): ``auto`` follows the
    dataset's rule (the SBM sets: yes), ``batch`` always, ``none`` never; ``batch`` needs a classification task."""
    if class_weights not in CLASS_WEIGHTS:
        raise ConfigError(f"train.class_weights must be one of {', '.join(CLASS_WEIGHTS)}, got {class_weights!r}")
    if class_weights == "batch" and kind != "classification":
        raise ConfigError(
            f"train.class_weights=batch weights the classes of a classification task; this task is a {kind}"
        )
    return dataset_rule if class_weights == "auto" else class_weights == "batch"


@dataclass(frozen=True)
class Objective:
    """``kind``: classification (cross-entropy, optional class weights; class -1 ignored), multilabel (binary
    cross-entropy of each task's logit, over the labelled entries only) or regression (L1 over the labelled entries).
    A missing label (NaN target, or class -1) adds nothing to the loss: a row with one label of twelve trains one task.

    ``balance_batches``: the cross-entropy of each batch weights class ``c`` by ``(R - R_c) / R``
    (``R`` labelled rows, ``R_c`` of class ``c``; 0 for a class absent from the batch), as the
    SBM benchmarks do, so that the small class (e.g. PATTERN's pattern nodes) counts as much.
    """

    kind: str
    metric: str
    class_weights: Tensor | None = None
    balance_batches: bool = False

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ConfigError(f"metric must be one of {sorted(METRICS)}, got {self.metric!r}")

    def loss(self, out: Tensor, y: Tensor) -> Tensor:
        if self.kind == "classification":
            w = None if self.class_weights is None else self.class_weights.to(out.device, out.dtype)
            if self.balance_batches:
                w = batch_class_weights(y, out.shape[-1]).to(out.dtype)  # [C]
            return F.cross_entropy(out, y.long(), weight=w, ignore_index=UNLABELLED)  # y = -1: no label
        out = out.reshape(y.shape)
        seen = ~torch.isnan(y)  # labelled entries: [R] / [R, k]
        if not seen.any():
            return out.sum() * 0.0  # nothing labelled in this batch: no gradient, a finite loss
        y = y.to(out.dtype)
        if self.kind == "multilabel":
            return F.binary_cross_entropy_with_logits(out[seen], y[seen])
        return F.l1_loss(out[seen], y[seen])

    def score(self, out: Tensor, y: Tensor) -> float:
        if self.kind == "classification":
            out, y = labelled(out, y)
        return METRICS[self.metric](out, y)

    @property
    def higher_is_better(self) -> bool:
        return HIGHER_IS_BETTER[self.metric]
