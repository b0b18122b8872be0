"""Seeded, stratified splits of a labelled collection: k folds, and one fixed train/val/test split.

Stratified: every class is shuffled (seeded) on its own and dealt round-robin into the
parts, so each part holds ``⌊n_c / k⌋`` or ``⌈n_c / k⌉`` items of class ``c``.  The classes are
dealt one after the other, continuing the round-robin, so the part sizes differ by at most one.

Cross-validation fold ``f`` of ``k``: test = part ``f``, validation = part ``(f + 1) mod k``,
training = the other ``k - 2`` parts (8 : 1 : 1 for ``k = 10``, as in Benchmarking GNNs).
"""

from __future__ import annotations

import numpy as np
import torch

from gatedgcn.errors import ConfigError, GraphError
from gatedgcn.graph import Graph

__all__ = ["stratified_parts", "kfold_split", "fixed_split", "choose_split", "mask_labels"]


def stratified_parts(labels: np.ndarray, k: int, seed: int) -> list[np.ndarray]:
    """``k`` disjoint, sorted index arrays covering ``range(len(labels))``, classes spread evenly.

    Shapes: labels ``[n]`` -> ``k`` arrays ``[~n/k]``.
    """
    labels = np.asarray(labels)
    if k < 2:
        raise ConfigError(f"data.folds: need at least 2 parts, got {k}")
    if k > len(labels):
        raise ConfigError(f"data.folds: cannot split {len(labels)} items into {k} parts")
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[] for _ in range(k)]
    turn = 0
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))  # [n_c]
        for index in members.tolist():
            parts[turn % k].append(index)
            turn += 1
    return [np.sort(np.array(p, dtype=np.int64)) for p in parts]


def kfold_split(labels: np.ndarray, folds: int, fold: int, seed: int) -> dict[str, np.ndarray]:
    """Fold ``fold`` of a stratified ``folds``-fold cross-validation: ``{"train", "val", "test"}`` indices."""
    if not 0 <= fold < folds:
        raise ConfigError(f"data.fold must be in [0, {folds}) for data.folds={folds}, got {fold}")
    if folds < 3:
        raise ConfigError(f"data.folds: cross-validation with a validation part needs at least 3 folds, got {folds}")
    parts = stratified_parts(labels, folds, seed)
    val = (fold + 1) % folds
    train = np.sort(np.concatenate([p for q, p in enumerate(parts) if q not in (fold, val)]))
    return {"train": train, "val": parts[val], "test": parts[fold]}


def fixed_split(
    labels: np.ndarray, seed: int, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
) -> dict[str, np.ndarray]:
    """One stratified train/val/test split in the given fractions (8 / 1 / 1 by default).

    Each class is shuffled; the item of rank ``r`` in a class of ``n_c`` gets the key ``(r + ½) / n_c``
    and all items, ordered by key, are cut at the fractions of ``n``: every prefix holds the classes
    in proportion.  Val and test get at least one item each when their fraction is > 0.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-9:
        raise ConfigError(f"split fractions must be three non-negative numbers summing to 1, got {fractions}")
    labels = np.asarray(labels)
    n = len(labels)
    n_val, n_test = (max(1, int(round(f * n))) if f > 0 else 0 for f in fractions[1:])
    if n_val + n_test >= n:
        raise ConfigError(f"cannot split {n} items into train, val and test parts")
    rng = np.random.default_rng(seed)
    key = np.empty(n)  # [n]
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))  # [n_c]
        key[members] = (np.arange(len(members)) + 0.5) / len(members)
    order = np.argsort(key, kind="stable")  # [n]
    n_train = n - n_val - n_test
    cuts = {"train": order[:n_train], "val": order[n_train : n_train + n_val], "test": order[n_train + n_val :]}
    return {name: np.sort(index).astype(np.int64) for name, index in cuts.items()}


def choose_split(labels: np.ndarray, *, folds: int, fold: int, seed: int) -> dict[str, np.ndarray]:
    """``folds >= 3``: fold ``fold`` of the cross-validation; ``folds == 0``: the fixed 8 / 1 / 1 split."""
    if folds == 0:
        return fixed_split(labels, seed)
    return kfold_split(labels, folds, fold, seed)


def mask_labels(graph: Graph, keep: np.ndarray) -> Graph:
    """The same graph with the node labels ``y`` set to -1 (no label) outside the nodes ``keep``."""
    if graph.y is None:
        raise GraphError(f"{graph.name}: no node labels y to keep or mask")
    y = torch.full_like(graph.y, -1)  # [N]
    index = torch.from_numpy(np.asarray(keep, dtype=np.int64))
    y[index] = graph.y[index]
    return graph.replace(y=y)
