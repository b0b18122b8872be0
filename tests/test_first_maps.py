"""The first gated layer's A h⁰, B h⁰, D h⁰, E h⁰ computed on the node embedding's table (GraphNet.first_maps):
a whole network against the dense float64 equations layer by layer (tests/dense.py), values and gradients, for one
category id per node and for K ids per node (summed embeddings), on the default path and with the fused kernels."""

from __future__ import annotations

import contextlib

import pytest
import torch

from gatedgcn import ops
from gatedgcn.graph import Graph, collate
from gatedgcn.model import GraphNet, ModelSpec

import dense
from helpers import compare_with_grads, random_graph, randomise_bn

D, VOCAB = 6, 7


def batch_of(k_ids: int):
    """Three small graphs with category ids ``[n]`` (``k_ids`` 0) or ``[n, k_ids]`` per node."""
    g = torch.Generator().manual_seed(5)
    graphs = []
    for k, (n, m) in enumerate([(7, 15), (5, 9), (9, 20)]):
        shape = (n,) if k_ids == 0 else (n, k_ids)
        x = torch.randint(0, VOCAB, shape, generator=g)
        graphs.append(Graph(x=x, edge_index=random_graph(n, m, seed=k), y=torch.randn((), generator=g), name=f"g{k}"))
    return collate(graphs)


def network() -> GraphNet:
    torch.manual_seed(0)
    spec = ModelSpec(
        layer="gated_gcn", layers=2, hidden=D, out_dim=1, in_dim=0, node_vocab=VOCAB, last_edge_update=True
    )
    model = GraphNet(spec).double().train()
    for layer in model.layers:
        randomise_bn(layer)
    return model


def dense_network(model: GraphNet, batch) -> torch.Tensor:
    """Embedding (a sum over K ids), the gated layers' dense equations on the batch as one graph, mean readout, head."""
    W = model.embed_h.weight  # [V, d]
    h = W[batch.x] if batch.x.dim() == 1 else W[batch.x].sum(1)  # [N, d]
    e = model.embed_e.weight.expand(batch.num_edges, -1)  # [E, d]: every edge's learned state
    for layer in model.layers:
        h, e = dense.gated_gcn(h, batch.edge_index, e, layer, training_bn=True)
    sums = torch.zeros(batch.num_graphs, D, dtype=h.dtype).index_add(0, batch.node_graph, h)  # [B, d]
    return model.head(sums / batch.nodes_per_graph.to(h.dtype).unsqueeze(1))  # [B, 1]


@pytest.mark.parametrize("k_ids", [0, 3])
@pytest.mark.parametrize("kernels", ["default", "fused"])
def test_a_network_with_the_first_maps_on_the_table_matches_dense(k_ids, kernels):
    batch, model = batch_of(k_ids), network()
    assert model.first_maps(batch) is not None  # the table path is the one under test
    forced = ops.fused_kernels(chunk_rows=16) if kernels == "fused" else contextlib.nullcontext()
    with forced:
        compare_with_grads(
            lambda: model(batch), lambda: dense_network(model, batch), [], list(model.parameters()), atol=1e-10
        )


def test_the_table_path_is_not_taken_where_the_input_is_not_the_embedding_exactly():
    batch = batch_of(0)
    torch.manual_seed(0)
    base = dict(layer="gated_gcn", layers=2, hidden=D, out_dim=1, in_dim=0, node_vocab=VOCAB)
    assert GraphNet(ModelSpec(**base, pe_dim=4)).first_maps(batch) is None  # h⁰ = embedding + encoding
    assert GraphNet(ModelSpec(**base, impl="reference")).first_maps(batch) is None
    assert GraphNet(ModelSpec(**{**base, "layer": "gcn"})).first_maps(batch) is None
