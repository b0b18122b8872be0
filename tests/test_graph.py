"""Graph validation, collate, conversions."""

from __future__ import annotations

import networkx as nx
import pytest
import torch

from gatedgcn import Graph, GraphError, collate, from_networkx, to_networkx
from gatedgcn.interop import to_pyg


def graph(n=3, ei=((0, 1), (1, 2)), **kw):
    return Graph(x=torch.randn(n, 2), edge_index=torch.tensor(ei, dtype=torch.long), **kw)


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda: Graph(x=torch.randn(3, 2), edge_index=torch.tensor([[0.0, 1.0], [1.0, 2.0]])), "integers"),
        (lambda: Graph(x=torch.randn(3, 2), edge_index=torch.tensor([0, 1, 2])), "shape [2, E]"),
        (lambda: Graph(x=torch.randn(3, 2), edge_index=torch.tensor([[0, 1], [1, 2], [2, 0]])), "shape [2, E]"),
        (lambda: graph(ei=((0, 1, 2), (1, 3, 0))), "edge_index[1, 1] = 3"),
        (lambda: graph(ei=((0, -1), (1, 2))), "edge_index[0, 1] = -1"),
        (lambda: graph(edge_attr=torch.randn(3, 4)), "edge_attr has 3 rows, expected 2"),
        (
            lambda: Graph(
                x=torch.tensor([[1.0], [float("nan")], [0.0]]), edge_index=torch.zeros(2, 0, dtype=torch.long)
            ),
            "x has a non-finite value",
        ),
        (lambda: graph(edge_attr=torch.tensor([[1.0], [float("inf")]])), "row 1"),
        (lambda: Graph(x=[[1.0]], edge_index=torch.zeros(2, 0, dtype=torch.long)), "x must be a torch.Tensor"),
        (lambda: graph(y=torch.tensor(float("inf"))), "y has an infinite value"),
        (lambda: Graph(x=torch.tensor([0, -2]), edge_index=torch.zeros(2, 0, dtype=torch.long)), "negative category"),
    ],
)
def test_bad_graphs_raise_graph_error_naming_the_field(make, words):
    with pytest.raises(GraphError) as info:
        make()
    assert words in str(info.value)


def test_collate_shifts_ids_and_indexes_graphs():
    g1 = graph(3, ((0, 1), (1, 2)), edge_attr=torch.ones(2, 1), y=torch.tensor(1))
    g2 = graph(2, ((1,), (0,)), edge_attr=torch.zeros(1, 1), y=torch.tensor(0))
    b = collate([g1, g2])
    assert b.edge_index.tolist() == [[0, 1, 4], [1, 2, 3]]
    assert b.node_graph.tolist() == [0, 0, 0, 1, 1]
    assert b.edge_graph.tolist() == [0, 0, 1]
    assert b.y.tolist() == [1, 0]
    assert b.nodes_per_graph.tolist() == [3, 2] and b.edges_per_graph.tolist() == [2, 1]
    torch.testing.assert_close(b.x, torch.cat([g1.x, g2.x]))


def test_collate_node_targets_are_concatenated():
    b = collate([graph(3, y=torch.tensor([0, 1, 2])), graph(2, ((0,), (1,)), y=torch.tensor([1, 1]))])
    assert b.y.tolist() == [0, 1, 2, 1, 1]


def test_collate_refuses_mixed_inputs():
    with pytest.raises(GraphError, match="graph 1 .* no edge_attr"):
        collate([graph(edge_attr=torch.ones(2, 1)), graph()])
    with pytest.raises(GraphError, match="no target y"):
        collate([graph(y=torch.tensor(0)), graph()])
    with pytest.raises(GraphError, match="empty list"):
        collate([])
    with pytest.raises(GraphError, match="item 0 is a dict"):
        collate([{"x": 1}])
    with pytest.raises(GraphError, match="node features x"):
        collate([graph(), Graph(x=torch.randn(2, 5), edge_index=torch.zeros(2, 0, dtype=torch.long))])


def test_dataloader_with_collate():
    graphs = [graph(y=torch.tensor(k)) for k in range(5)]
    batches = list(torch.utils.data.DataLoader(graphs, batch_size=2, collate_fn=collate))
    assert [b.num_graphs for b in batches] == [2, 2, 1]
    assert torch.cat([b.y for b in batches]).tolist() == [0, 1, 2, 3, 4]


def test_networkx_round_trip():
    G = nx.Graph()
    G.add_nodes_from([(0, {"f": [1.0, 2.0]}), (1, {"f": [3.0, 4.0]}), (2, {"f": [5.0, 6.0]})])
    G.add_edge(0, 1, w=0.5)
    G.add_edge(1, 2, w=2.0)
    g = from_networkx(G, node_attr="f", edge_attr="w")
    assert sorted(map(tuple, g.edge_index.t().tolist())) == [(0, 1), (1, 0), (1, 2), (2, 1)]
    weight = {tuple(p): float(w) for p, w in zip(g.edge_index.t().tolist(), g.edge_attr[:, 0])}
    assert weight[(2, 1)] == 2.0 and weight[(0, 1)] == 0.5
    H = to_networkx(g)
    assert sorted(H.edges()) == [(0, 1), (1, 0), (1, 2), (2, 1)]
    assert H.nodes[2]["x"] == [5.0, 6.0]
    with pytest.raises(GraphError, match="has no attribute 'missing'"):
        from_networkx(G, edge_attr="missing")


def test_pyg_round_trip():
    pytest.importorskip("torch_geometric")
    from gatedgcn.interop import from_pyg

    g = graph(edge_attr=torch.ones(2, 3), y=torch.tensor(1))
    back = from_pyg(to_pyg(g))
    assert (
        torch.equal(back.edge_index, g.edge_index)
        and torch.equal(back.x, g.x)
        and torch.equal(back.edge_attr, g.edge_attr)
    )
