"""Circular skip links (CSL, Murphy et al. 2019): graph classification that needs positions.

A graph of class ``c`` is the cycle on 41 nodes plus the skip links ``u -- u + s_c (mod 41)``
with ``s_c`` the ``c``-th of {2, 3, 4, 5, 6, 9, 11, 12, 13, 16}; every node has degree 4, so a
message-passing network without positional encodings sees the ten classes as one (10 %).
Each of the 15 graphs per class has its nodes relabelled by a random permutation; all node
features are the one category 0, there are no edge features.  Evaluation: 5-fold
cross-validation (stratified: 90 train / 30 val / 30 test graphs per fold).
"""

from __future__ import annotations

import numpy as np
import torch

from gatedgcn.data.dataset import Dataset, Task
from gatedgcn.data.splits import kfold_split
from gatedgcn.graph import Graph

__all__ = ["SKIPS", "NODES", "PER_CLASS", "FOLDS", "csl_graph", "build_csl"]

SKIPS = (2, 3, 4, 5, 6, 9, 11, 12, 13, 16)
NODES, PER_CLASS, FOLDS = 41, 15, 5


def csl_graph(label: int, rng: np.random.Generator, nodes: int = NODES) -> Graph:
    """The CSL graph of class ``label``, nodes relabelled at random: 4·nodes directed edges."""
    u = np.arange(nodes)
    pairs = np.concatenate([np.stack([u, (u + 1) % nodes]), np.stack([u, (u + SKIPS[label]) % nodes])], axis=1)  # [2, 2n]
    perm = rng.permutation(nodes)  # node u -> perm[u]
    edges = perm[np.concatenate([pairs, pairs[::-1]], axis=1)]  # [2, 4n] both directions
    return Graph(
        x=torch.zeros(nodes, dtype=torch.long),  # [N] one category
        edge_index=torch.from_numpy(edges).long(),
        y=torch.tensor(label),
        name=f"CSL(skip={SKIPS[label]})",
    )


def build_csl(*, seed: int = 0, folds: int = 0, fold: int = 0, **_: object) -> Dataset:
    """The 150 CSL graphs, split by fold ``fold`` of ``folds`` (0: the benchmark's 5) stratified folds."""
    rng = np.random.default_rng([seed, 41])
    graphs = [csl_graph(label, rng) for label in range(len(SKIPS)) for _ in range(PER_CLASS)]
    labels = np.array([int(g.y) for g in graphs])
    ids = kfold_split(labels, folds or FOLDS, fold, seed)
    return Dataset(
        name="CSL",
        task=Task(level="graph", kind="classification", num_outputs=len(SKIPS), metric="accuracy"),
        splits={split: [graphs[k] for k in index.tolist()] for split, index in ids.items()},
        node_vocab=1,
        info={"skips": list(SKIPS), "folds": folds or FOLDS, "fold": fold},
    )
