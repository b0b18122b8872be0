"""The mini graph classification set of the lecture: 8 kinds of graphs, generated with networkx.

Classes: cycle, star, wheel, lollipop, hypercube, grid, clique, circular ladder.  Each graph
has ``n`` nodes drawn uniformly from ``[min_nodes, max_nodes)`` (a hypercube takes the largest
dimension with ``2^dim <= n``, a grid and a circular ladder the largest size that fits), a
self-loop on every node, node feature = in-degree (self-loop included) as a category id, which
the model embeds (a degree is a small integer, and a lookup table learns far faster from it
than a linear map of its value), edge feature = 1.  Classes take turns, so every split is balanced.
"""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import torch

from gatedgcn.data.dataset import Dataset, Task
from gatedgcn.errors import ConfigError
from gatedgcn.graph import Graph

__all__ = ["CLASSES", "mini_graph", "mini_graphs", "build_mini"]

CLASSES = ("cycle", "star", "wheel", "lollipop", "hypercube", "grid", "clique", "circular_ladder")


def _networkx(label: int, n: int, rng: np.random.Generator) -> nx.Graph:
    kind = CLASSES[label]
    if kind == "cycle":
        return nx.cycle_graph(n)
    if kind == "star":
        return nx.star_graph(n - 1)
    if kind == "wheel":
        return nx.wheel_graph(n)
    if kind == "lollipop":
        path = int(rng.integers(2, max(3, n // 2)))
        return nx.lollipop_graph(n - path, path)
    if kind == "hypercube":
        return nx.hypercube_graph(int(math.log2(n)))
    if kind == "grid":
        rows = int(rng.integers(2, max(3, n // 2)))
        return nx.grid_2d_graph(rows, n // rows)
    if kind == "clique":
        return nx.complete_graph(n)
    return nx.circular_ladder_graph(n // 2)


def mini_graph(label: int, n: int, rng: np.random.Generator) -> Graph:
    """One graph of class ``label`` with about ``n`` nodes, self-loops added."""
    G = nx.convert_node_labels_to_integers(_networkx(label, n, rng))
    pairs = [(u, v) for u, v in G.edges()]
    senders = [u for u, v in pairs] + [v for u, v in pairs] + list(G.nodes)
    receivers = [v for u, v in pairs] + [u for u, v in pairs] + list(G.nodes)
    edge_index = torch.tensor([senders, receivers], dtype=torch.long)  # [2, E] both directions + self-loops
    degree = torch.bincount(edge_index[1], minlength=G.number_of_nodes())  # [N]
    return Graph(
        x=degree,  # [N] in-degree, a category id
        edge_index=edge_index,
        edge_attr=torch.ones(edge_index.shape[1], 1),  # [E, 1]
        y=torch.tensor(label),
        name=f"{CLASSES[label]}(n={G.number_of_nodes()})",
    )


def mini_graphs(count: int, min_nodes: int, max_nodes: int, rng: np.random.Generator) -> list[Graph]:
    """``count`` graphs, classes in turn, node counts uniform in ``[min_nodes, max_nodes)``."""
    return [mini_graph(k % len(CLASSES), int(rng.integers(min_nodes, max_nodes)), rng) for k in range(count)]


def build_mini(
    *, num_train: int, num_val: int, num_test: int, min_nodes: int, max_nodes: int, seed: int, **_: object
) -> Dataset:
    """The lecture's mini graph classification set: 8 kinds of graphs, node feature = in-degree category."""
    if min_nodes < 4 or max_nodes <= min_nodes:
        raise ConfigError(
            f"data: the mini set needs 4 <= min_nodes < max_nodes, got min_nodes={min_nodes}, max_nodes={max_nodes}"
        )
    rng = np.random.default_rng(seed)
    splits = {
        name: mini_graphs(count, min_nodes, max_nodes, rng)
        for name, count in (("train", num_train), ("val", num_val), ("test", num_test))
    }
    return Dataset(
        name="mini",
        task=Task(level="graph", kind="classification", num_outputs=len(CLASSES), metric="accuracy"),
        splits=splits,
        node_vocab=max_nodes,  # a degree (self-loop included) is at most the node count, < max_nodes
        edge_in_dim=1,
        info={"classes": list(CLASSES), "featurisation": {"kind": "degree", "vocab": max_nodes}},
    )
