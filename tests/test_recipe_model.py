"""The networks of the tuned recipe against dense float64 forwards written out here (values and gradients): the block
h = Drop(x + f(BN(layer(x)))) with a fixed dropout mask and each f, an FFN after each gated layer, the encodings'
encoders (linear or BN + linear, added or concatenated), and the GPS network; and the options' checks."""

from __future__ import annotations

import math

import pytest
import torch

from gatedgcn import Graph, collate
from gatedgcn.errors import ConfigError
from gatedgcn.model import GraphNet, ModelSpec
from masks import FixedMask, bernoulli_mask
from test_gps import SIZES, _attention

import dense
from helpers import compare_with_grads, random_graph

D = 6


def _f(name: str, t: torch.Tensor) -> torch.Tensor:
    if name == "relu":
        return torch.where(t > 0, t, torch.zeros_like(t))
    if name == "elu":
        return torch.where(t > 0, t, torch.exp(t) - 1)
    return 0.5 * t * (1 + torch.erf(t / math.sqrt(2)))


def _graphs(*, categories: bool, pe: int = 0) -> list[Graph]:
    out = []
    for k, n in enumerate(SIZES):
        g = torch.Generator().manual_seed(k)
        ei = random_graph(n, 2 * n, seed=k)
        x = (
            torch.randint(0, 4, (n,), generator=g)
            if categories
            else torch.randn(n, 3, generator=g, dtype=torch.float64)
        )
        out.append(
            Graph(
                x=x,
                edge_index=ei,
                edge_attr=torch.randint(0, 3, (ei.shape[1],), generator=g),
                y=torch.tensor([float(k)]),
                pe=torch.rand(n, pe, generator=g, dtype=torch.float64) if pe else None,
            )
        )
    return out


def _mean_readout(h: torch.Tensor) -> torch.Tensor:
    P = torch.zeros(len(SIZES), h.shape[0], dtype=torch.float64)
    start = 0
    for g, n in enumerate(SIZES):
        P[g, start : start + n] = 1.0 / n
        start += n
    return P @ h  # [B, d]


def _ffn(x: torch.Tensor, ffn, activation: str) -> torch.Tensor:
    inner = _f(activation, dense.linear(x, ffn.W_1))
    return dense.batch_norm(x + dense.linear(inner, ffn.W_2), ffn.bn)


def _spec(**options) -> ModelSpec:
    base = dict(layers=2, hidden=D, out_dim=1, readout="mean", head_layers=0, impl="reference")
    return ModelSpec(**(base | options))


@pytest.mark.parametrize("activation", ["relu", "gelu", "elu"])
@pytest.mark.parametrize("residual", [True, False])
def test_block_with_dropout_is_dropout_of_the_residual_sum(activation, residual):
    torch.manual_seed(1)
    p = 0.3
    net = GraphNet(_spec(layer="gcn", in_dim=3, dropout=p, activation=activation, residual=residual)).double().train()
    batch = collate(_graphs(categories=False))
    masks = [bernoulli_mask((batch.num_nodes, D), p, seed) for seed in (5, 6)]
    for block, mask in zip(net.layers, masks):
        block.drop = FixedMask(mask, p)
    x = batch.x.clone().requires_grad_(True)
    batch = batch.__class__(**{**batch.__dict__, "x": x})

    def reference():
        h = dense.linear(x, net.embed_h)  # [N, d]
        for block, mask in zip(net.layers, masks):
            m = _f(
                activation, dense.batch_norm(dense.gcn(h, batch.edge_index, block.layer, activation="none"), block.bn)
            )
            h = ((h + m) if residual else m) * mask / (1 - p)
        return dense.linear(_mean_readout(h), net.head.out)

    compare_with_grads(lambda: net(batch), reference, [x], list(net.parameters()))


def test_an_ffn_follows_each_gated_layer():
    torch.manual_seed(2)
    net = GraphNet(
        _spec(layer="gated_gcn", node_vocab=4, in_dim=0, edge_vocab=3, ffn=True, ffn_factor=3, activation="gelu")
    )
    net = net.double().train()
    batch = collate(_graphs(categories=True))

    def reference():
        h, e = net.embed_h.weight[batch.x], net.embed_e.weight[batch.edge_attr]
        for layer, ffn in zip(net.layers, net.ffns):
            h, e = dense.gated_gcn(h, batch.edge_index, e, layer, training_bn=True)
            h = _ffn(h, ffn, "gelu")
        return dense.linear(_mean_readout(h), net.head.out)

    assert net.ffns[0].W_1.out_features == 3 * D
    compare_with_grads(lambda: net(batch), reference, [], list(net.parameters()))


@pytest.mark.parametrize(
    ("encoder", "combine"), [("linear", "add"), ("bn_linear", "add"), ("bn_linear", "concat"), ("linear", "concat")]
)
def test_the_encoding_is_encoded_and_added_or_concatenated(encoder, combine):
    torch.manual_seed(3)
    k = 5
    net = GraphNet(
        _spec(layer="gated_gcn", node_vocab=4, in_dim=0, pe_dim=k, pe_encoder=encoder, pe_combine=combine, pe_hidden=2)
    )
    net = net.double().train()
    batch = collate(_graphs(categories=True, pe=k))
    h = net.node_input(batch)
    raw = batch.pe
    if encoder == "bn_linear":
        bn, lin = net.embed_pe[0], net.embed_pe[1]
        raw = (raw - raw.mean(0)) / torch.sqrt(raw.var(0, unbiased=False) + bn.eps) * bn.weight + bn.bias
    else:
        lin = net.embed_pe
    p = dense.linear(raw, lin)
    node = net.embed_h.weight[batch.x]
    expected = torch.cat([node, p], dim=1) if combine == "concat" else node + p
    assert h.shape == (batch.num_nodes, D) and node.shape[1] == (D - 2 if combine == "concat" else D)
    torch.testing.assert_close(h, expected)


def test_the_gps_network_is_the_dense_gps_layers_in_sequence():
    torch.manual_seed(4)
    net = GraphNet(
        _spec(layer="gps", node_vocab=4, in_dim=0, edge_vocab=3, heads=3, heads_join="concat", activation="gelu")
    )
    net = net.double().train()
    batch = collate(_graphs(categories=True))
    rows = torch.split(torch.arange(batch.num_nodes), list(SIZES))

    def reference():
        h, e = net.embed_h.weight[batch.x], net.embed_e.weight[batch.edge_attr]
        for layer in net.layers:
            h_local, e = dense.gated_gcn(h, batch.edge_index, e, layer.local, training_bn=True)
            m = torch.cat([_attention(h[r], layer.attention) for r in rows])
            s = dense.batch_norm(h_local, layer.bn_local) + dense.batch_norm(h + m, layer.bn_attention)
            h = _ffn(s, layer.ffn, "gelu")
        return dense.linear(_mean_readout(h), net.head.out)

    compare_with_grads(lambda: net(batch), reference, [], list(net.parameters()))
    out, weights = net.eval()(batch, return_weights=True)
    assert len(weights) == 2 and [w.shape for w in weights[0]] == [(batch.num_edges, D), (3, 3, max(SIZES), max(SIZES))]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (dict(layer="gated_gcn", activation="gelu"), "the gated layer's own f is ReLU"),
        (dict(layer="gps", ffn=True), "carries its own FFN"),
        (dict(layer="gcn", score="additive"), "applies to the graph_attention layer"),
        (dict(layer="gcn", heads_join="concat"), "applies to the graph_attention and attention and gps layers"),
        (dict(layer="graph_attention", heads=4, heads_join="concat"), "divisible"),
        (dict(layer="gcn", activation="tanh"), "model.activation must be one of"),
        (dict(layer="gcn", pe_dim=4, pe_combine="concat", pe_hidden=6), "pe_hidden"),
    ],
)
def test_recipe_options_are_checked(options, message):
    with pytest.raises(ConfigError, match=message):
        _spec(in_dim=3, **options)
