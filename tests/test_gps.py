"""The GPS layer h' = FFN(BN_L(h_L) + BN_A(h + MHA(h))), h_L, e' = GatedGCN(h, e), against a dense float64 version
built from the dense gated GCN and a per-graph dense self-attention: values and gradients, weights, isolation of graphs."""

from __future__ import annotations

import pytest
import torch

from gatedgcn.nn.gps import GPSLayer

import dense
from helpers import compare_with_grads, random_graph

SIZES = (5, 8, 3)  # nodes of the batch's graphs, consecutive


def _batch_edges(seed: int) -> torch.Tensor:
    parts, offset = [], 0
    for k, n in enumerate(SIZES):
        parts.append(random_graph(n, 2 * n, seed=seed + k) + offset)
        offset += n
    return torch.cat(parts, dim=1)  # [2, E], edges within each graph


def _ffn(x: torch.Tensor, ffn) -> torch.Tensor:
    inner = torch.relu(dense.linear(x, ffn.W_1))
    return dense.batch_norm(x + dense.linear(inner, ffn.W_2), ffn.bn)


def _attention(x: torch.Tensor, att) -> torch.Tensor:
    """Dense multi-head self-attention of one graph's nodes ``[T, d]``, heads of width ``d_h``, then the join."""
    d_h, outs = att.head_dim, []
    for head in range(att.heads):
        rows = slice(head * d_h, (head + 1) * d_h)
        q, k, v = (x @ W.weight[rows].t() for W in (att.W_q, att.W_k, att.W_v))
        s = q @ k.t() / d_h**0.5
        a = torch.exp(s - s.max(1, keepdim=True).values)
        outs.append((a / a.sum(1, keepdim=True)) @ v)
    h = torch.cat(outs, dim=1)
    if att.heads_join == "mean":
        return torch.stack(outs).mean(0)
    return h if att.W_h is None else h @ att.W_h.weight.t()


def _reference(layer: GPSLayer, x, ei, e):
    h_local, e_new = dense.gated_gcn(x, ei, e, layer.local, training_bn=True)
    rows = torch.split(torch.arange(x.shape[0]), list(SIZES))
    m = torch.cat([_attention(x[r], layer.attention) for r in rows])  # each graph on its own
    h = dense.batch_norm(h_local, layer.bn_local) + dense.batch_norm(x + m, layer.bn_attention)
    return _ffn(h, layer.ffn), e_new


@pytest.mark.parametrize(("heads", "join"), [(1, "linear"), (3, "linear"), (3, "concat"), (2, "mean")])
@pytest.mark.parametrize("impl", ["reference", "fast"])
def test_gps_layer_matches_the_dense_sum_of_gated_gcn_and_per_graph_attention(heads, join, impl):
    torch.manual_seed(heads)
    d = 6
    layer = GPSLayer(d, heads=heads, heads_join=join, impl=impl).double().train()
    ei = _batch_edges(seed=10 * heads)
    x = torch.randn(sum(SIZES), d, dtype=torch.float64, requires_grad=True)
    e = torch.randn(ei.shape[1], d, dtype=torch.float64, requires_grad=True)
    counts = torch.tensor(SIZES)
    compare_with_grads(
        lambda: layer(x, ei, e, counts), lambda: _reference(layer, x, ei, e), [x, e], list(layer.parameters())
    )


def test_gps_attention_stays_within_each_graph_and_its_weights_are_the_dense_softmax():
    torch.manual_seed(0)
    d = 4
    layer = GPSLayer(d, heads=2).double().eval()
    ei = _batch_edges(seed=3)
    x = torch.randn(sum(SIZES), d, dtype=torch.float64)
    e = torch.randn(ei.shape[1], d, dtype=torch.float64)
    counts = torch.tensor(SIZES)
    h, e_new, eta, a = layer(x, ei, e, counts, return_weights=True)
    assert a.shape == (3, 2, max(SIZES), max(SIZES))
    q = x[5:13] @ layer.attention.W_q.weight[d:].t()  # graph 1, head 1
    k = x[5:13] @ layer.attention.W_k.weight[d:].t()
    expected = torch.softmax(q @ k.t() / d**0.5, dim=1)
    torch.testing.assert_close(a[1, 1, :8, :8], expected)
    assert torch.count_nonzero(a[2, :, :3, 3:]) == 0  # keys past a graph's nodes: weight 0
    # changing a node of graph 2 leaves graphs 0 and 1 unchanged (no edge and no attention across graphs)
    x2 = x.clone()
    x2[-1] += 1.0
    h2, _ = layer(x2, ei, e, counts)
    torch.testing.assert_close(h2[:13], h[:13])
    assert not torch.allclose(h2[13:], h[13:])
    # η are the gated layer's normalised gates: they sum to 1 (up to ε) over each receiver's senders, per channel
    sums = torch.zeros(sum(SIZES), d, dtype=torch.float64).index_add_(0, ei[1], eta)
    has = torch.bincount(ei[1], minlength=sum(SIZES)) > 0
    torch.testing.assert_close(sums[has], torch.ones_like(sums[has]), atol=1e-4, rtol=0)


def test_gps_layer_does_not_write_into_its_inputs():
    layer = GPSLayer(4).double().train()
    ei = _batch_edges(seed=1)
    x = torch.randn(sum(SIZES), 4, dtype=torch.float64)
    e = torch.randn(ei.shape[1], 4, dtype=torch.float64)
    x0, e0, ei0 = x.clone(), e.clone(), ei.clone()
    layer(x, ei, e, torch.tensor(SIZES))
    assert torch.equal(x, x0) and torch.equal(e, e0) and torch.equal(ei, ei0)


@pytest.mark.parametrize("group", [1, 3, 8, 100])
def test_attention_by_size_groups_is_each_graph_alone(group):
    """attend_by_size sorts the graphs by size and pads a group at a time: with 21 graphs of 0-11 nodes (more than a
    group, unsorted, sizes repeated, one empty) each node's output and the gradients are those of its graph alone."""
    from gatedgcn.nn.attention import SelfAttention
    from gatedgcn.nn.gps import attend_by_size

    torch.manual_seed(group)
    sizes = [7, 2, 11, 0, 5, 5, 1, 9, 3, 11, 4, 6, 2, 8, 10, 1, 7, 3, 5, 9, 2]
    att = SelfAttention(6, heads=2, heads_join="concat").double()
    x = torch.randn(sum(sizes), 6, dtype=torch.float64, requires_grad=True)
    rows = torch.split(torch.arange(sum(sizes)), sizes)
    compare_with_grads(
        lambda: attend_by_size(att, x, torch.tensor(sizes), group),
        lambda: torch.cat([_attention(x[r], att) for r in rows if len(r)]),
        [x],
        list(att.parameters()),
    )


def test_gps_outputs_are_the_same_with_and_without_the_weights():
    torch.manual_seed(1)
    layer = GPSLayer(6, heads=3, heads_join="concat").double().eval()
    ei = _batch_edges(seed=5)
    x = torch.randn(sum(SIZES), 6, dtype=torch.float64)
    e = torch.randn(ei.shape[1], 6, dtype=torch.float64)
    h, e_new = layer(x, ei, e, torch.tensor(SIZES))
    h_w, e_w, _, _ = layer(x, ei, e, torch.tensor(SIZES), return_weights=True)
    torch.testing.assert_close(h, h_w)
    torch.testing.assert_close(e_new, e_w)
