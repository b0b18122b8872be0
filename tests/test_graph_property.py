"""Property-based: random, partly malformed inputs to Graph validation and collate give either a valid
graph / batch or the project's GraphError, never another exception."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gatedgcn.errors import GraphError
from gatedgcn.graph import Batch, Graph, collate

DTYPES = [
    torch.float32,
    torch.float64,
    torch.float16,
    torch.int64,
    torch.int32,
    torch.uint8,
    torch.bool,
    torch.complex64,
]
SPECIAL = [0.0, 1.0, -1.0, 3.0] * 4 + [float("nan"), float("inf"), -float("inf"), 1e30]


@st.composite
def tensors(draw, rows: int, *, ids: bool = False) -> object:
    """Mostly a well-formed ``[rows]`` / ``[rows, F]`` tensor; sometimes another dtype, rank, row count or kind."""
    if draw(st.integers(0, 19)) == 0:
        return draw(st.sampled_from([None, [1.0, 2.0], "x", np.zeros((rows, 2), dtype=np.float32)]))
    n = max(0, rows + draw(st.sampled_from([0, 0, 0, 0, 0, -1, 1])))
    rank = draw(st.sampled_from([1, 2, 2, 2, 0, 3]))
    shape = {0: (), 1: (n,), 2: (n, draw(st.integers(1, 3))), 3: (n, 2, 2)}[rank]
    dtype = draw(st.sampled_from([torch.int64] * 6 + DTYPES) if ids else st.sampled_from([torch.float32] * 6 + DTYPES))
    values = draw(st.lists(st.sampled_from(SPECIAL if not ids else [0.0, 1.0, 2.0, 5.0, -1.0]), min_size=1, max_size=4))
    flat = torch.tensor([values[k % len(values)] for k in range(int(np.prod(shape)))], dtype=torch.float64)
    return flat.reshape(shape).to(dtype)


@st.composite
def edge_indices(draw, n: int) -> object:
    if draw(st.integers(0, 19)) == 0:
        return draw(
            st.sampled_from([None, [[0], [1]], torch.zeros(3, 2, dtype=torch.long), torch.zeros(2, dtype=torch.long)])
        )
    E = draw(st.integers(0, 6))
    low, high = (-1, n + 1) if draw(st.integers(0, 9)) == 0 else (0, max(n - 1, 0))
    pairs = draw(st.lists(st.tuples(st.integers(low, high), st.integers(low, high)), min_size=E, max_size=E))
    index = torch.tensor(pairs, dtype=torch.long).reshape(-1, 2).t()  # [2, E]
    return index.to(draw(st.sampled_from([torch.long] * 8 + [torch.int32, torch.float32])))


@st.composite
def graph_inputs(draw) -> dict:
    n = draw(st.integers(0, 5))
    x = draw(tensors(n))
    edge_index = draw(edge_indices(n))
    E = int(edge_index.shape[-1]) if isinstance(edge_index, torch.Tensor) and edge_index.dim() else 0
    edge_attr = draw(st.one_of(st.none(), tensors(E)))
    y = draw(st.sampled_from(["none", "graph", "graph", "node", "row", "bad"]))
    target = {
        "none": None,
        "graph": torch.tensor(draw(st.integers(0, 3))),
        "node": torch.zeros(n, dtype=torch.long),
        "row": torch.zeros(1, 2),
        "bad": draw(st.sampled_from([torch.tensor(float("nan")), [1], torch.zeros(2, 2, 2)])),
    }[y]
    return {"x": x, "edge_index": edge_index, "edge_attr": edge_attr, "y": target}


def _graph_or_error(inputs: dict) -> Graph | None:
    try:
        return Graph(**inputs)
    except GraphError:
        return None


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graph_inputs())
def test_graph_validation_accepts_a_valid_graph_or_raises_graph_error(inputs):
    g = _graph_or_error(inputs)
    if g is None:
        return
    # what was accepted is a graph every layer can use
    assert (
        isinstance(g.x, torch.Tensor) and g.x.dim() in (1, 2) and not g.x.dtype.is_complex and g.x.dtype != torch.bool
    )
    if g.x.is_floating_point():
        assert torch.isfinite(g.x).all()
    assert g.edge_index.shape[0] == 2 and ((g.edge_index >= 0) & (g.edge_index < g.num_nodes)).all()
    assert g.edge_attr is None or g.edge_attr.shape[0] == g.num_edges


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(graph_inputs(), min_size=0, max_size=4), st.integers(0, 9))
def test_collate_gives_a_consistent_batch_or_raises_graph_error(many, stray):
    graphs: list = [g for g in map(_graph_or_error, many) if g is not None]
    if stray == 0:
        graphs.append("not a graph")
    try:
        batch = collate(graphs)
    except GraphError:
        return
    assert isinstance(batch, Batch) and batch.num_graphs == len(graphs)
    offset = 0
    for k, g in enumerate(graphs):
        nodes = slice(offset, offset + g.num_nodes)
        assert (batch.node_graph[nodes] == k).all() and int(batch.nodes_per_graph[k]) == g.num_nodes
        torch.testing.assert_close(batch.x[nodes], g.x.to(batch.x.dtype), rtol=0, atol=0)
        first = int(batch.edges_per_graph[:k].sum())
        assert torch.equal(batch.edge_index[:, first : first + g.num_edges], g.edge_index.long() + offset)
        offset += g.num_nodes
    assert batch.num_nodes == offset and batch.node_graph.shape == (offset,)
    assert ((batch.edge_index >= 0) & (batch.edge_index < offset)).all()
