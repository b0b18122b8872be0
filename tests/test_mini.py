"""The mini graph classification set: each class is the graph it claims to be."""

from __future__ import annotations

import networkx as nx
import numpy as np
import torch

from gatedgcn.data import load_dataset
from gatedgcn.data.mini import CLASSES, mini_graph
from gatedgcn.interop import to_networkx


def simple(g):
    """The undirected simple graph without the self-loops."""
    G = nx.Graph(to_networkx(g).to_undirected())
    G.remove_edges_from(nx.selfloop_edges(G))
    return G


def test_each_class_is_its_networkx_kind():
    rng = np.random.default_rng(0)
    for n in (10, 13, 19):
        G = {name: simple(mini_graph(k, n, rng)) for k, name in enumerate(CLASSES)}
        degrees = {name: sorted(d for _, d in G[name].degree()) for name in CLASSES}
        assert degrees["cycle"] == [2] * n and nx.is_connected(G["cycle"])
        assert degrees["star"] == [1] * (n - 1) + [n - 1]
        assert degrees["wheel"] == [3] * (n - 1) + [n - 1]
        assert degrees["clique"] == [n - 1] * n
        assert G["hypercube"].number_of_nodes() == 2 ** int(np.log2(n)) and len(set(degrees["hypercube"])) == 1
        assert set(degrees["circular_ladder"]) == {3} and G["circular_ladder"].number_of_nodes() == 2 * (n // 2)
        assert set(degrees["grid"]) <= {2, 3, 4} and degrees["grid"][:4] == [2, 2, 2, 2]
        assert nx.is_connected(G["lollipop"]) and G["lollipop"].number_of_nodes() == n


def test_self_loops_degree_features_and_edge_features():
    g = mini_graph(CLASSES.index("star"), 11, np.random.default_rng(0))
    loops = g.edge_index[0] == g.edge_index[1]
    assert int(loops.sum()) == g.num_nodes  # one self-loop per node
    assert torch.equal(g.x, torch.bincount(g.edge_index[1], minlength=g.num_nodes))
    assert sorted(g.x.tolist()) == [2] * 10 + [11]  # leaves: centre + self; centre: 10 leaves + self
    assert torch.all(g.edge_attr == 1)


def test_splits_sizes_balance_and_determinism():
    kw = dict(num_train=24, num_val=8, num_test=16, min_nodes=10, max_nodes=20)
    a, b, c = load_dataset("mini", seed=3, **kw), load_dataset("mini", seed=3, **kw), load_dataset("mini", seed=4, **kw)
    assert [len(a.splits[s]) for s in ("train", "val", "test")] == [24, 8, 16]
    assert torch.bincount(torch.stack([g.y for g in a.splits["train"]])).tolist() == [3] * 8
    sizes = [g.num_nodes for g in a.splits["train"] if g.name.startswith("cycle")]
    assert all(10 <= s < 20 for s in sizes)
    assert max(int(g.x.max()) for s in a.splits.values() for g in s) < a.node_vocab  # every degree has an embedding
    assert all(torch.equal(g.edge_index, h.edge_index) for g, h in zip(a.splits["test"], b.splits["test"]))
    assert any(g.num_nodes != h.num_nodes for g, h in zip(a.splits["train"], c.splits["train"]))
