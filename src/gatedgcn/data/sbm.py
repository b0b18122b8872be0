"""Stochastic block model graphs of Benchmarking GNNs: PATTERN and CLUSTER (node classification).

An SBM graph has communities of sizes drawn uniformly from ``[5, 34]``; two nodes of the same
community are joined with probability ``p``, of different ones with ``q`` (undirected: both
directions are edges).  Node features and labels are category ids.

PATTERN: 5 communities, ``p = 0.5``, ``q = 0.35``, features uniform in {0, 1, 2}.  100 patterns
are drawn once from the seed (size in ``[5, 34]``, edge probability 0.5, features in {0, 1, 2});
graph ``k`` of a split gets pattern ``k mod 100``, each pattern–graph node pair joined with
probability 0.5; the nodes are shuffled; label 1 marks the pattern's nodes.

CLUSTER: 6 communities, ``p = 0.55``, ``q = 0.25``; all features 0 except one random node of
each community ``r``, whose feature is ``r + 1``; label = community.  Nodes shuffled.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gatedgcn.data.cache import cached
from gatedgcn.data.dataset import Dataset, Task
from gatedgcn.data.parallel import generate
from gatedgcn.errors import ConfigError
from gatedgcn.graph import Graph

__all__ = [
    "SBM",
    "PATTERN",
    "CLUSTER",
    "Pattern",
    "sbm_edges",
    "make_patterns",
    "PatternGraph",
    "ClusterGraph",
    "build_pattern",
    "build_cluster",
]


@dataclass(frozen=True)
class SBM:
    """Parameters of a stochastic block model: community sizes from ``[size_min, size_max]``."""

    communities: int
    p: float
    q: float
    size_min: int = 5
    size_max: int = 34


PATTERN = SBM(communities=5, p=0.5, q=0.35)
CLUSTER = SBM(communities=6, p=0.55, q=0.25)
PATTERN_COUNT, PATTERN_P, PATTERN_Q, VOCAB = 100, 0.5, 0.5, 3


def sbm_edges(community: np.ndarray, p: float, q: float, rng: np.random.Generator) -> np.ndarray:
    """Undirected SBM edges as both directed pairs ``[2, E]``: pair ``{u, v}`` with probability ``p`` inside a community, else ``q``."""
    n = len(community)
    prob = np.where(community[:, None] == community[None, :], p, q)  # [n, n]
    upper = np.triu(rng.random((n, n)) < prob, k=1)  # [n, n] each pair once
    u, v = np.nonzero(upper)
    return np.stack([np.concatenate([u, v]), np.concatenate([v, u])])  # [2, E]


def _communities(sbm: SBM, rng: np.random.Generator) -> np.ndarray:
    sizes = rng.integers(sbm.size_min, sbm.size_max + 1, size=sbm.communities)  # [C]
    return np.repeat(np.arange(sbm.communities), sizes)  # [n] community of each node


def _shuffled(n: int, edges: np.ndarray, x: np.ndarray, y: np.ndarray, rng: np.random.Generator, name: str) -> Graph:
    """Relabel the nodes by a random permutation (node ``u`` becomes ``perm[u]``)."""
    perm = rng.permutation(n)  # [n]
    order = np.argsort(perm)  # node at new position t is old node order[t]
    return Graph(
        x=torch.from_numpy(x[order]).long(),  # [N] category ids
        edge_index=torch.from_numpy(perm[edges]).long(),  # [2, E]
        y=torch.from_numpy(y[order]).long(),  # [N] labels
        name=name,
    )


@dataclass(frozen=True)
class Pattern:
    """A fixed subgraph: its internal edges ``[2, E_P]`` (both directions) and its features ``[n_P]``."""

    edges: np.ndarray
    x: np.ndarray

    @property
    def size(self) -> int:
        return len(self.x)


def make_patterns(seed: int, count: int = PATTERN_COUNT, size_min: int = 5, size_max: int = 34) -> list[Pattern]:
    """The ``count`` patterns of PATTERN, drawn from ``seed`` alone."""
    rng = np.random.default_rng([seed, 99])
    patterns = []
    for _ in range(count):
        n = int(rng.integers(size_min, size_max + 1))
        patterns.append(
            Pattern(
                edges=sbm_edges(np.zeros(n, dtype=np.int64), PATTERN_P, PATTERN_P, rng),
                x=rng.integers(0, VOCAB, size=n),
            )
        )
    return patterns


@dataclass(frozen=True)
class PatternGraph:
    """``make(k, rng)``: PATTERN graph ``k`` (picklable for worker processes)."""

    patterns: tuple[Pattern, ...]
    sbm: SBM = PATTERN

    def __call__(self, k: int, rng: np.random.Generator) -> Graph:
        community = _communities(self.sbm, rng)  # [n_G]
        n_G = len(community)
        graph_edges = sbm_edges(community, self.sbm.p, self.sbm.q, rng)  # [2, E_G]
        pattern = self.patterns[k % len(self.patterns)]
        links = np.nonzero(rng.random((pattern.size, n_G)) < PATTERN_Q)  # pattern node a -- graph node u
        a, u = links[0] + n_G, links[1]
        edges = np.concatenate([graph_edges, pattern.edges + n_G, np.stack([a, u]), np.stack([u, a])], axis=1)  # [2, E]
        x = np.concatenate([rng.integers(0, VOCAB, size=n_G), pattern.x])  # [n]
        y = np.concatenate([np.zeros(n_G, dtype=np.int64), np.ones(pattern.size, dtype=np.int64)])  # [n]
        return _shuffled(n_G + pattern.size, edges, x, y, rng, f"PATTERN[{k}]")


@dataclass(frozen=True)
class ClusterGraph:
    """``make(k, rng)``: CLUSTER graph ``k``."""

    sbm: SBM = CLUSTER

    def __call__(self, k: int, rng: np.random.Generator) -> Graph:
        community = _communities(self.sbm, rng)  # [n]
        edges = sbm_edges(community, self.sbm.p, self.sbm.q, rng)  # [2, E]
        x = np.zeros(len(community), dtype=np.int64)  # [n]
        for r in range(self.sbm.communities):
            x[rng.choice(np.flatnonzero(community == r))] = r + 1
        return _shuffled(len(community), edges, x, community, rng, f"CLUSTER[{k}]")


def _build(
    name: str,
    make: PatternGraph | ClusterGraph,
    classes: int,
    vocab: int,
    counts: dict[str, int],
    seed: int,
    params: dict[str, Any],
    *,
    cache_dir: Path | None = None,
    workers: int = 1,
    progress: bool = True,
    **_: object,
) -> Dataset:
    """The ``counts`` graphs per split of ``make`` (generated in ``workers`` processes, cached by their ``params``)
    as a class-balanced node classification into ``classes``."""
    params = params | {"counts": counts, "seed": seed}
    splits = cached(
        name.lower(),
        params,
        lambda: generate(make, counts, seed=seed, workers=workers, desc=name, progress=progress),
        cache_dir,
    )
    return Dataset(
        name=name,
        task=Task(
            level="node", kind="classification", num_outputs=classes, metric="weighted_accuracy", balance_classes=True
        ),
        splits=splits,
        node_vocab=vocab,
        info={"generator": params},
    )


def _counts(name: str, num_train: int, num_val: int, num_test: int) -> dict[str, int]:
    if min(num_train, num_val, num_test) < 0 or num_train < 1:
        raise ConfigError(
            f"data: {name} needs num_train >= 1 and num_val, num_test >= 0, got {(num_train, num_val, num_test)}"
        )
    return {"train": num_train, "val": num_val, "test": num_test}


def build_pattern(
    *, num_train: int = 10_000, num_val: int = 2_000, num_test: int = 2_000, seed: int = 0, **options: Any
) -> Dataset:
    """SBM PATTERN (benchmark sizes 10,000 / 2,000 / 2,000: 100 / 20 / 20 graphs per pattern); ``progress``: a bar while generating."""
    counts = _counts("SBM_PATTERN", num_train, num_val, num_test)
    make = PatternGraph(tuple(make_patterns(seed)))
    params = {"sbm": vars(PATTERN), "patterns": PATTERN_COUNT, "p_pattern": PATTERN_P, "q_pattern": PATTERN_Q}
    return _build("SBM_PATTERN", make, 2, VOCAB, counts, seed, params, **options)


def build_cluster(
    *, num_train: int = 10_000, num_val: int = 1_000, num_test: int = 1_000, seed: int = 0, **options: Any
) -> Dataset:
    """SBM CLUSTER (benchmark sizes 10,000 / 1,000 / 1,000); ``progress``: a bar while generating."""
    counts = _counts("SBM_CLUSTER", num_train, num_val, num_test)
    params = {"sbm": vars(CLUSTER)}
    return _build(
        "SBM_CLUSTER", ClusterGraph(), CLUSTER.communities, CLUSTER.communities + 1, counts, seed, params, **options
    )
