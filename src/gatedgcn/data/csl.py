"""Circular skip links (CSL, Murphy et al. 2019): graph classification that needs positions.

A graph of class ``c`` is the cycle on 41 nodes plus the skip links ``u -- u + s_c (mod 41)``
with ``s_c`` the ``c``-th of {2, 3, 4, 5, 6, 9, 11, 12, 13, 16}; every node has degree 4, so a
message-passing network without positional encodings sees the ten classes as one (10 %).
Each of the 15 graphs per class has its nodes relabelled by a random permutation; all node
features are the one category 0, there are no edge features.  Evaluation: 5-fold
cross-validation (stratified: 90 train / 30 val / 30 test graphs per fold).

``CSL_RP`` (``relabel="lexicographic"``) relabels as the file of Murphy et al. that the benchmark
loads (``graphs_Kary_Deterministic_Graphs.pkl``, "deterministic permutations"): per class the
unpermuted graph, then the first permutations of ``itertools.permutations(range(41))`` that give a
new adjacency.  They move only the last few node ids, so the 15 graphs of a class are almost the
same labelled graph, and many of their Laplacian eigenvectors coincide up to sign (with random
relabelling, the eigenvectors of each repeated eigenvalue come out in an arbitrary rotation).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import torch

from gatedgcn.data.dataset import Dataset, Task
from gatedgcn.data.splits import kfold_split
from gatedgcn.graph import Graph

__all__ = [
    "SKIPS",
    "NODES",
    "PER_CLASS",
    "FOLDS",
    "RELABEL",
    "csl_graph",
    "lexicographic_relabellings",
    "build_csl",
    "build_csl_rp",
]

SKIPS = (2, 3, 4, 5, 6, 9, 11, 12, 13, 16)
NODES, PER_CLASS, FOLDS = 41, 15, 5
RELABEL = ("random", "lexicographic")


def _circulant_pairs(label: int, nodes: int) -> np.ndarray:
    """The cycle and the skip links of class ``label``, each pair once: ``[2, 2n]``."""
    u = np.arange(nodes)
    return np.concatenate(
        [np.stack([u, (u + 1) % nodes]), np.stack([u, (u + SKIPS[label]) % nodes])], axis=1
    )  # [2, 2n]


def lexicographic_relabellings(label: int, count: int = PER_CLASS, nodes: int = NODES) -> list[np.ndarray]:
    """The identity, then the permutations of ``itertools.permutations(range(nodes))`` in order that give
    an adjacency not seen yet, until there are ``count`` (Murphy et al.'s deterministic permutations)."""
    pairs = _circulant_pairs(label, nodes)
    seen: set[frozenset] = set()
    perms: list[np.ndarray] = []
    for order in itertools.permutations(range(nodes)):
        perm = np.array(order)
        relabelled = np.sort(perm[pairs], axis=0)  # [2, 2n] each pair as (min, max)
        key = frozenset(map(tuple, relabelled.T.tolist()))
        if key not in seen:
            seen.add(key)
            perms.append(perm)
            if len(perms) == count:
                return perms
    raise ValueError(f"CSL: fewer than {count} distinct relabellings of {nodes} nodes")


def csl_graph(label: int, rng: np.random.Generator, nodes: int = NODES, perm: np.ndarray | None = None) -> Graph:
    """The CSL graph of class ``label``, node ``u`` relabelled ``perm[u]`` (default: a random permutation from ``rng``):
    4·nodes directed edges."""
    pairs = _circulant_pairs(label, nodes)  # [2, 2n]
    perm = rng.permutation(nodes) if perm is None else perm  # node u -> perm[u]
    edges = perm[np.concatenate([pairs, pairs[::-1]], axis=1)]  # [2, 4n] both directions
    return Graph(
        x=torch.zeros(nodes, dtype=torch.long),  # [N] one category
        edge_index=torch.from_numpy(edges).long(),
        y=torch.tensor(label),
        name=f"CSL(skip={SKIPS[label]})",
    )


def build_csl(*, seed: int = 0, folds: int = 0, fold: int = 0, relabel: str = "random", **_: object) -> Dataset:
    """The 150 CSL graphs, split by fold ``fold`` of ``folds`` (0: the benchmark's 5) stratified folds;
    ``relabel``: ``random`` (seeded) or ``lexicographic`` (Murphy et al.'s file, see the module)."""
    if relabel not in RELABEL:
        raise ValueError(f"CSL: relabel must be one of {RELABEL}, got {relabel!r}")
    rng = np.random.default_rng([seed, 41])
    if relabel == "random":
        labelled = [(label, csl_graph(label, rng)) for label in range(len(SKIPS)) for _ in range(PER_CLASS)]
    else:
        labelled = [
            (label, csl_graph(label, rng, perm=perm))
            for label in range(len(SKIPS))
            for perm in lexicographic_relabellings(label)
        ]
    graphs = [g for _, g in labelled]
    labels = np.array([label for label, _ in labelled])  # [150]
    ids = kfold_split(labels, folds or FOLDS, fold, seed)
    return Dataset(
        name="CSL" if relabel == "random" else "CSL_RP",
        task=Task(level="graph", kind="classification", num_outputs=len(SKIPS), metric="accuracy"),
        splits={split: [graphs[k] for k in index.tolist()] for split, index in ids.items()},
        node_vocab=1,
        info={"skips": list(SKIPS), "folds": folds or FOLDS, "fold": fold, "relabel": relabel},
    )


def build_csl_rp(**options: Any) -> Dataset:
    """CSL relabelled as in the file the benchmark loads (``relabel="lexicographic"``)."""
    return build_csl(**(options | {"relabel": "lexicographic"}))
