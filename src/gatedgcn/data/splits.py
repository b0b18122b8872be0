"""Seeded, stratified splits of a labelled collection: k folds, and one fixed train/val/test split.

Stratified: every class is shuffled (seeded) on its own and dealt round-robin into the
parts, so each part holds ``⌊n_c / k⌋`` or ``⌈n_c / k⌉`` items of class ``c``.  The classes are
dealt one after the other, continuing the round-robin, so the part sizes differ by at most one.

Cross-validation fold ``f`` of ``k``: test = part ``f``, validation = part ``(f + 1) mod k``,
training = the other ``k - 2`` parts (8 : 1 : 1 for ``k = 10``, as in Benchmarking GNNs).
"""

from __future__ import annotations

import numpy as np

from gatedgcn.errors import ConfigError

__all__ = ["stratified_parts", "kfold_split", "fixed_split", "choose_split"]


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


def fixed_split(labels: np.ndarray, seed: int, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)) -> dict[str, np.ndarray]:
    """One stratified train/val/test split in the given fractions (10 parts of 10 %: 8 / 1 / 1 by default)."""
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-9:
        raise ConfigError(f"split fractions must be three non-negative numbers summing to 1, got {fractions}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    chosen: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))  # [n_c]
        n_val = int(round(fractions[1] * len(members)))
        n_test = int(round(fractions[2] * len(members)))
        n_train = max(len(members) - n_val - n_test, 0)
        chosen["train"].append(members[:n_train])
        chosen["val"].append(members[n_train:n_train + n_val])
        chosen["test"].append(members[n_train + n_val:])
    return {name: np.sort(np.concatenate(arrays)).astype(np.int64) for name, arrays in chosen.items()}


def choose_split(labels: np.ndarray, *, folds: int, fold: int, seed: int) -> dict[str, np.ndarray]:
    """``folds >= 3``: fold ``fold`` of the cross-validation; ``folds == 0``: the fixed 8 / 1 / 1 split."""
    if folds == 0:
        return fixed_split(labels, seed)
    return kfold_split(labels, folds, fold, seed)
