"""The MLP baseline (``model.layer: mlp``) against a dense float64 forward written out here:
embedding -> L x ReLU(BN(U h)) (+ residual) -> mean readout by an assignment matrix -> halving head;
values and gradients.  And what sets it apart from the rest of the family: it never reads the graph."""

from __future__ import annotations

import pytest
import torch

from gatedgcn import Graph, collate
from gatedgcn.app.explain import explain
from gatedgcn.errors import GatedGCNError, GraphError
from gatedgcn.model import GraphNet, ModelSpec
from gatedgcn.nn import MLPLayer

import dense
from helpers import compare_with_grads, random_graph

VOCAB, D = 5, 8


def molecules(edges: bool = True) -> list[Graph]:
    out = []
    for k, n in enumerate((6, 1, 9, 4)):
        ei = random_graph(n, min(n * n, 2 * n), seed=k) if edges else torch.zeros(2, 0, dtype=torch.long)
        x = torch.randint(0, VOCAB, (n,), generator=torch.Generator().manual_seed(10 + k))
        out.append(Graph(x=x, edge_index=ei, y=torch.tensor([float(k)])))
    return out


def model(batch_norm: bool, residual: bool) -> GraphNet:
    spec = ModelSpec(
        layer="mlp",
        layers=3,
        hidden=D,
        out_dim=1,
        in_dim=0,
        node_vocab=VOCAB,
        readout="mean",
        batch_norm=batch_norm,
        residual=residual,
    )
    net = GraphNet(spec).double()
    for block in net.layers:  # batch norm with a non-trivial affine map, so that a wrong use shows
        if isinstance(block.bn, torch.nn.BatchNorm1d):
            with torch.no_grad():
                block.bn.weight.uniform_(0.5, 1.5)
                block.bn.bias.uniform_(-0.5, 0.5)
    return net


def dense_mlp(net: GraphNet, ids: torch.Tensor, node_graph: torch.Tensor, num_graphs: int) -> torch.Tensor:
    """``h = x + ReLU(BN(U x))`` per layer (training-mode BN; no BN / no residual as the spec says),
    then ``mean_i h_i`` per graph as ``P h`` with ``P[g, i] = 1/|V_g|``, then the head."""
    h = net.embed_h.weight[ids]  # [N, d]
    for block in net.layers:
        m = dense.linear(h, block.layer.U)
        if net.spec.batch_norm:
            m = dense.batch_norm(m, block.bn)
        m = torch.relu(m)
        h = h + m if net.spec.residual else m
    P = torch.zeros(num_graphs, len(ids), dtype=torch.float64)
    P[node_graph, torch.arange(len(ids))] = 1.0
    hg = (P / P.sum(1, keepdim=True)) @ h  # [B, d]
    for lin in net.head.hidden:
        hg = torch.relu(dense.linear(hg, lin))
    return dense.linear(hg, net.head.out)


@pytest.mark.parametrize("batch_norm,residual", [(False, False), (True, True)])
def test_mlp_network_matches_dense_values_and_gradients(batch_norm, residual):
    net = model(batch_norm, residual).train()
    b = collate(molecules())
    compare_with_grads(
        lambda: net(b), lambda: dense_mlp(net, b.x, b.node_graph, b.num_graphs), [], list(net.parameters())
    )


def test_mlp_never_reads_the_graph():
    net = model(True, True).eval()
    with_edges, without = collate(molecules(edges=True)), collate(molecules(edges=False))
    assert with_edges.num_edges > 0
    torch.testing.assert_close(net(with_edges), net(without), rtol=0, atol=0)
    out, weights = net(with_edges, return_weights=True)
    assert weights == []  # no edge weights: a = 0
    torch.testing.assert_close(out, net(without))


def test_mlp_layer_is_u_x_and_checks_its_input():
    layer = MLPLayer(3, 4).double()
    x = torch.randn(5, 3, dtype=torch.float64)
    torch.testing.assert_close(layer(x), x @ layer.U.weight.t() + layer.U.bias)
    with pytest.raises(GraphError, match=r"MLPLayer: x must be a \[N, 3\] tensor, got \[5, 2\]"):
        layer(x[:, :2])


def test_mlp_parameter_count_is_the_benchmark_formula():
    """Embedding, L x (U: d*d + d), head d -> d/2 -> d/4 -> 1 (the AQSOL MLP row: 65 atoms, d = 150, L = 4)."""
    spec = ModelSpec(
        layer="mlp", layers=4, hidden=150, out_dim=1, in_dim=0, node_vocab=65, batch_norm=False, residual=False
    )
    d = 150
    head = (d * 75 + 75) + (75 * 37 + 37) + (37 + 1)
    assert GraphNet(spec).num_parameters() == 65 * d + 4 * (d * d + d) + head == 114_525


def test_explain_refuses_the_mlp():
    net = model(False, False)
    with pytest.raises(GatedGCNError, match="'mlp' layer reads no edge"):
        explain(net, molecules()[0])
