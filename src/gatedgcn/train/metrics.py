"""Metrics, each computed over a whole split (all predictions of the split at once).

A per-batch average would weight small and large batches alike and, for class-balanced
accuracy or F1, would not even be the metric of the split; so the trainer collects the
outputs of the split and calls these once.

Shapes: out ``[R, C]`` logits (classification) or ``[R]`` / ``[R, k]`` values (regression);
y ``[R]`` class ids or ``[R]`` / ``[R, k]`` targets.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from gatedgcn.graph import UNLABELLED  # class id of a row without a label

__all__ = [
    "UNLABELLED",
    "labelled",
    "accuracy",
    "weighted_accuracy",
    "f1_positive",
    "mae",
    "METRICS",
    "HIGHER_IS_BETTER",
]


def labelled(out: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """The rows whose class id is not :data:`UNLABELLED` (negative): ``[R', C]``, ``[R']``."""
    keep = y >= 0  # [R]
    return out[keep], y[keep]


def accuracy(out: Tensor, y: Tensor) -> float:
    """Fraction of rows whose argmax is the target."""
    if y.numel() == 0:
        return float("nan")
    return float((out.argmax(-1) == y).double().mean())


def weighted_accuracy(out: Tensor, y: Tensor) -> float:
    """Class-balanced accuracy: the mean over the classes present in ``y`` of their recall."""
    pred = out.argmax(-1)
    recalls = [float((pred[y == c] == c).double().mean()) for c in torch.unique(y).tolist()]
    return sum(recalls) / len(recalls) if recalls else float("nan")


def f1_positive(out: Tensor, y: Tensor) -> float:
    """F1 score of class 1: ``2 tp / (2 tp + fp + fn)`` (0 when there is nothing to find nor found)."""
    pred = out.argmax(-1)
    tp = int(((pred == 1) & (y == 1)).sum())
    fp = int(((pred == 1) & (y != 1)).sum())
    fn = int(((pred != 1) & (y == 1)).sum())
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0


def mae(out: Tensor, y: Tensor) -> float:
    """Mean absolute error."""
    if y.numel() == 0:
        return float("nan")
    return float((out.reshape(y.shape).double() - y.double()).abs().mean())


METRICS: dict[str, Callable[[Tensor, Tensor], float]] = {
    "accuracy": accuracy,
    "weighted_accuracy": weighted_accuracy,
    "f1": f1_positive,
    "mae": mae,
}
HIGHER_IS_BETTER = {"accuracy": True, "weighted_accuracy": True, "f1": True, "mae": False}
