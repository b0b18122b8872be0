"""The graph-attention network (``model.layer: graph_attention``) against a dense float64 forward written out here:
embedding -> L x (h + f(BN(Σ_j a_ij v_j))), f = ELU or ReLU (``activation``) -> mean readout by an
assignment matrix -> halving head; values and gradients.  And what sets ELU apart from ReLU: a branch whose batch
norm puts every entry below zero still passes gradients to the layer."""

from __future__ import annotations

import pytest
import torch

from gatedgcn import Graph, collate
from gatedgcn.app.compat import spec_from_fields
from gatedgcn.app.config import Config, ModelConfig
from gatedgcn.errors import ConfigError
from gatedgcn.model import GraphNet, ModelSpec

import dense
from helpers import compare_with_grads, random_graph

D = 6


def graphs() -> list[Graph]:
    out = []
    for k, (n, m) in enumerate(((5, 12), (3, 0), (7, 20))):
        x = torch.randn(n, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(k))
        out.append(Graph(x=x, edge_index=random_graph(n, m, seed=k), y=torch.tensor([float(k)])))
    return out


def model(heads: int, self_loops: bool, activation: str) -> GraphNet:
    spec = ModelSpec(
        layer="graph_attention",
        layers=2,
        hidden=D,
        out_dim=1,
        in_dim=2,
        heads=heads,
        readout="mean",
        self_loops=self_loops,
        impl="reference",
        activation=activation,
    )
    net = GraphNet(spec).double()
    for block in net.layers:  # batch norm with a non-trivial affine map, so that a wrong use shows
        with torch.no_grad():
            block.bn.weight.uniform_(0.5, 1.5)
            block.bn.bias.uniform_(-0.5, 0.5)
    return net


def dense_network(net: GraphNet, batch) -> torch.Tensor:
    """``h = x + f(BN(Σ_j a_ij v_j))`` per layer (training-mode BN), then ``P h`` with ``P[g, i] = 1/|V_g|``, then the head."""
    N = batch.num_nodes
    edges = batch.edge_index
    if net.spec.self_loops:
        edges = torch.cat([edges, torch.arange(N).expand(2, -1)], dim=1)
    h = dense.linear(batch.x, net.embed_h)  # [N, d]
    for block in net.layers:
        m = dense.batch_norm(dense.graph_attention(h, edges, block.layer), block.bn)
        negative = torch.exp(m) - 1.0 if net.spec.activation == "elu" else torch.zeros_like(m)
        h = h + torch.where(m > 0, m, negative)
    P = torch.zeros(batch.num_graphs, N, dtype=torch.float64)
    P[batch.node_graph, torch.arange(N)] = 1.0
    hg = (P / P.sum(1, keepdim=True)) @ h  # [B, d]
    for lin in net.head.hidden:
        hg = torch.relu(dense.linear(hg, lin))
    return dense.linear(hg, net.head.out)


@pytest.mark.parametrize("heads, self_loops, activation", [(1, False, "elu"), (2, True, "elu"), (2, False, "relu")])
def test_graph_attention_network_matches_dense_values_and_gradients(heads, self_loops, activation):
    net = model(heads, self_loops, activation).train()
    b = collate(graphs())
    compare_with_grads(lambda: net(b), lambda: dense_network(net, b), [], list(net.parameters()))


def test_a_branch_below_zero_after_batch_norm_still_gets_gradients_with_elu_only():
    """With every entry of each block's BN output negative, ReLU gives the attention maps no gradient at all; ELU does."""
    b = collate(graphs())
    for activation, alive in (("elu", True), ("relu", False)):
        spec = ModelSpec(
            layer="graph_attention",
            layers=2,
            hidden=D,
            out_dim=1,
            in_dim=2,
            heads=1,
            head_layers=0,  # a linear head
            activation=activation,
        )
        net = GraphNet(spec).double().train()
        for block in net.layers:
            with torch.no_grad():
                block.bn.weight.fill_(0.1)
                block.bn.bias.fill_(-5.0)  # BN output within -5 ± 0.1·√N: every entry negative
        net(b).sum().backward()
        grad = net.layers[0].layer.W_v.weight.grad
        assert (grad is not None and grad.abs().max() > 1e-8) == alive, activation


def test_activation_is_checked_and_the_old_option_name_still_loads(tmp_path):
    with pytest.raises(ValueError, match="model.activation must be one of relu, gelu, elu"):
        ModelSpec(layer="graph_attention", activation="tanh")
    with pytest.raises(ConfigError, match="the gated layer's own f is ReLU"):
        ModelConfig(layer="gated_gcn", activation="elu")
    old = tmp_path / "old.yaml"  # a config written before model.activation replaced model.attention_activation
    old.write_text("model:\n  layer: graph_attention\n  attention_activation: elu\n")
    assert Config.load(old).model.activation == "elu"
    stored = {f: getattr(ModelSpec(layer="graph_attention"), f) for f in ("layer", "hidden")}
    assert spec_from_fields(stored | {"attention_activation": "elu"}).activation == "elu"  # a stored run's spec
