"""TSP as edge classification (Benchmarking GNNs): is a k-NN edge on a near-optimal tour?

A graph has ``n`` points uniform in the unit square (``n`` uniform in ``[min_nodes, max_nodes)``,
50 … 500 in the benchmark); each point receives an edge from each of its ``k = 25`` nearest
other points (``k = n - 1`` if fewer), edge feature = their Euclidean distance, node
feature = the coordinates.  Edge label 1 iff the pair is consecutive on the tour that LKH
finds (the ``elkai`` package), in either direction.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gatedgcn.data.cache import cached
from gatedgcn.data.dataset import Dataset, Task
from gatedgcn.data.parallel import generate
from gatedgcn.errors import ConfigError
from gatedgcn.graph import Graph

__all__ = ["K", "knn_edges", "lkh_tour", "TSPGraph", "build_tsp"]

K = 25
SCALE = 1_000_000  # LKH's EUC_2D rounds distances to integers: work on coordinates × SCALE


def knn_edges(points: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Edges ``j -> i`` from the ``k`` nearest other points ``j`` of each ``i``: ``[2, n·k]`` and distances ``[n·k]``."""
    n = len(points)
    dist = np.linalg.norm(points[:, None, :] - points[None, :, :], axis=-1)  # [n, n]
    np.fill_diagonal(dist, np.inf)
    nearest = np.argsort(dist, axis=1, kind="stable")[:, :k]  # [n, k]
    i = np.repeat(np.arange(n), k)  # receivers
    j = nearest.reshape(-1)  # senders
    return np.stack([j, i]), dist[i, j]


def lkh_tour(points: np.ndarray, runs: int = 1) -> np.ndarray:
    """A near-optimal closed tour (LKH via ``elkai``): the order of the ``n`` points, ``[n]``."""
    import elkai

    coords = {str(u): (float(x * SCALE), float(y * SCALE)) for u, (x, y) in enumerate(points)}
    order = elkai.Coordinates2D(coords).solve_tsp(runs=runs)  # names, first repeated at the end
    return np.array([int(u) for u in order[:-1]])


@dataclass(frozen=True)
class TSPGraph:
    """``make(k, rng)``: one TSP graph with ``n`` uniform in ``[min_nodes, max_nodes)``."""

    min_nodes: int = 50
    max_nodes: int = 501
    k: int = K

    def __call__(self, index: int, rng: np.random.Generator) -> Graph:
        n = int(rng.integers(self.min_nodes, self.max_nodes))
        points = rng.random((n, 2))  # [n, 2]
        edges, dist = knn_edges(points, min(self.k, n - 1))  # [2, E], [E]
        tour = lkh_tour(points)  # [n]
        succ = np.empty(n, dtype=np.int64)
        succ[tour] = np.roll(tour, -1)  # next point on the tour
        j, i = edges
        on_tour = (succ[j] == i) | (succ[i] == j)  # [E]
        return Graph(
            x=torch.from_numpy(points).float(),  # [N, 2] coordinates
            edge_index=torch.from_numpy(edges).long(),  # [2, E]
            edge_attr=torch.from_numpy(dist).float().unsqueeze(-1),  # [E, 1] distance
            y=torch.from_numpy(on_tour).long(),  # [E]
            name=f"TSP[{index}](n={n})",
        )


def _with_solver(make: TSPGraph) -> TSPGraph:
    """``make``, once the LKH solver is known to be installed: its absence is named before any graph is drawn
    (a cached dataset needs no solver)."""
    if importlib.util.find_spec("elkai") is None:
        raise ConfigError(
            "dataset TSP: the tours are found by LKH, from the elkai package: pip install 'gatedgcn[bench]'"
        )
    return make


def build_tsp(
    *,
    num_train: int = 10_000,
    num_val: int = 1_000,
    num_test: int = 1_000,
    min_nodes: int = 50,
    max_nodes: int = 501,
    seed: int = 0,
    cache_dir: Path | None = None,
    workers: int = 1,
    progress: bool = True,
    **_: object,
) -> Dataset:
    """TSP with ``num_train / num_val / num_test`` graphs of ``[min_nodes, max_nodes)`` points; ``progress``: a bar while generating."""
    if min_nodes < 4 or max_nodes <= min_nodes:
        raise ConfigError(
            f"data: TSP needs 4 <= min_nodes < max_nodes, got min_nodes={min_nodes}, max_nodes={max_nodes}"
        )
    if num_train < 1 or min(num_val, num_test) < 0:
        raise ConfigError(
            f"data: TSP needs num_train >= 1 and num_val, num_test >= 0, got {num_train}, {num_val}, {num_test}"
        )
    make = TSPGraph(min_nodes, max_nodes)
    counts = {"train": num_train, "val": num_val, "test": num_test}
    params = {
        "counts": counts,
        "seed": seed,
        "min_nodes": min_nodes,
        "max_nodes": max_nodes,
        "k": K,
        "solver": "elkai-lkh-runs1",
    }
    splits = cached(
        "tsp",
        params,
        lambda: generate(_with_solver(make), counts, seed=seed, workers=workers, desc="TSP", progress=progress),
        cache_dir,
    )
    return Dataset(
        name="TSP",
        task=Task(level="edge", kind="classification", num_outputs=2, metric="f1"),
        splits=splits,
        in_dim=2,
        edge_in_dim=1,
        info={"generator": params},
    )
