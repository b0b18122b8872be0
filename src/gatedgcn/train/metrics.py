"""Metrics, each computed over a whole split (all predictions of the split at once).

A per-batch average would weight small and large batches alike and, for class-balanced
accuracy, ROC-AUC or F1, would not even be the metric of the split; so the trainer collects the
outputs of the split and calls these once.

Shapes: out ``[R, C]`` logits (classification), ``[R, k]`` logits (multilabel: one binary task per
column) or ``[R]`` / ``[R, k]`` values (regression); y ``[R]`` class ids (-1: no label), ``[R, k]``
0 / 1 labels, or ``[R]`` / ``[R, k]`` targets, a float NaN marking a missing label (never read as 0).

ROC-AUC and average precision of several tasks are the mean over the tasks that have both classes
among their labelled rows of the split, as the Open Graph Benchmark's evaluator computes them; a
two-class classification is scored by ``logit_1 - logit_0`` (the order of the softmax's ``p_1``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from scipy.stats import rankdata
from torch import Tensor

from gatedgcn.graph import UNLABELLED  # class id of a row without a label

__all__ = [
    "UNLABELLED",
    "labelled",
    "accuracy",
    "weighted_accuracy",
    "f1_positive",
    "mae",
    "rmse",
    "roc_auc",
    "average_precision",
    "METRICS",
    "HIGHER_IS_BETTER",
]


def labelled(out: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """The rows whose class id is not :data:`UNLABELLED` (negative): ``[R', C]``, ``[R']``."""
    keep = y >= 0  # [R]
    return out[keep], y[keep]


def _is_multilabel(out: Tensor, y: Tensor) -> bool:
    return y.is_floating_point() and y.dim() == 2 and out.shape == y.shape


def accuracy(out: Tensor, y: Tensor) -> float:
    """Fraction of rows whose argmax is the target; multilabel: of labelled entries whose sign (logit > 0) is the label."""
    if _is_multilabel(out, y):
        seen = ~torch.isnan(y)  # [R, k]
        return float(((out > 0).double() == y)[seen].double().mean()) if seen.any() else float("nan")
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


def _errors(out: Tensor, y: Tensor) -> Tensor:
    """``out - y`` of the labelled entries (y not NaN), in float64: ``[R']``."""
    diff = out.reshape(y.shape).double() - y.double()
    return diff[~torch.isnan(diff)]


def mae(out: Tensor, y: Tensor) -> float:
    """Mean absolute error over the labelled entries."""
    d = _errors(out, y)
    return float(d.abs().mean()) if d.numel() else float("nan")


def rmse(out: Tensor, y: Tensor) -> float:
    """Root mean squared error over the labelled entries."""
    d = _errors(out, y)
    return float(d.square().mean().sqrt()) if d.numel() else float("nan")


def _binary_tasks(out: Tensor, y: Tensor) -> list[tuple[np.ndarray, np.ndarray]]:
    """(scores, 0/1 labels) of each task with both classes among its labelled rows."""
    if _is_multilabel(out, y):
        columns = [(out[:, k], y[:, k]) for k in range(y.shape[1])]
    elif out.dim() == 2 and out.shape[-1] == 2 and not y.is_floating_point():
        columns = [(out[:, 1] - out[:, 0], y.double())]
    else:
        raise ValueError("ROC-AUC and average precision score binary tasks: two classes, or multilabel 0/1 columns")
    tasks = []
    for score, label in columns:
        seen = ~torch.isnan(label.double())
        s, t = score[seen].double().numpy(), label[seen].double().numpy()
        if (t == 1).any() and (t == 0).any():
            tasks.append((s, t))
    return tasks


def _roc_auc(s: np.ndarray, t: np.ndarray) -> float:
    """Probability that a positive outscores a negative (ties count half): the Mann-Whitney U over P N pairs."""
    ranks = rankdata(s)  # average ranks of ties, 1-based
    P = int(t.sum())
    N = len(t) - P
    return float((ranks[t == 1].sum() - P * (P + 1) / 2) / (P * N))


def _average_precision(s: np.ndarray, t: np.ndarray) -> float:
    """``Σ_n (R_n - R_{n-1}) P_n`` over the distinct thresholds, highest first (ties enter together)."""
    order = np.argsort(-s, kind="stable")
    s, t = s[order], t[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # the last row of each group of equal scores
    tp = np.cumsum(t)[last]
    precision = tp / (last + 1)
    recall = tp / t.sum()
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def roc_auc(out: Tensor, y: Tensor) -> float:
    """ROC-AUC, the mean over the tasks with both classes present (NaN if none has)."""
    tasks = _binary_tasks(out, y)
    return float(np.mean([_roc_auc(s, t) for s, t in tasks])) if tasks else float("nan")


def average_precision(out: Tensor, y: Tensor) -> float:
    """Average precision (area under the precision-recall steps), the mean over the tasks with both classes present."""
    tasks = _binary_tasks(out, y)
    return float(np.mean([_average_precision(s, t) for s, t in tasks])) if tasks else float("nan")


METRICS: dict[str, Callable[[Tensor, Tensor], float]] = {
    "accuracy": accuracy,
    "weighted_accuracy": weighted_accuracy,
    "f1": f1_positive,
    "mae": mae,
    "rmse": rmse,
    "rocauc": roc_auc,
    "ap": average_precision,
}
HIGHER_IS_BETTER = {
    "accuracy": True,
    "weighted_accuracy": True,
    "f1": True,
    "mae": False,
    "rmse": False,
    "rocauc": True,
    "ap": True,
}
