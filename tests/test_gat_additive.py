"""Veličković's additive graph attention, a_ij = softmax_j(LeakyReLU(aᵀ[W x_i ‖ W x_j])), multi-head, the heads
concatenated, averaged or joined by W_h, with attention dropout: against a dense float64 version (values and
gradients), with the dropout mask fixed by the test; the dot-product score with the new joins likewise."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gatedgcn.nn import GraphAttention
from masks import FixedMask, bernoulli_mask

import dense
from helpers import compare_with_grads, random_graph


def _dense_gat(x, edge_index, layer, *, mask=None, p=0.0):
    """Per head: z = W x, s_ij = LeakyReLU(a_i·z_i + a_j·z_j) on the edges j -> i, softmax over j, h_i = Σ_j a_ij z_j."""
    n, dim = x.shape
    adj = dense.adjacency(edge_index, n)  # [i, j]
    d_h = layer.head_dim
    outs = []
    for head in range(layer.heads):
        rows = slice(head * d_h, (head + 1) * d_h)
        z = x @ layer.W_v.weight[rows].t()  # [n, d_h]
        if layer.score == "additive":
            s = (z @ layer.a_i[head])[:, None] + (z @ layer.a_j[head])[None, :]  # [i, j]
            s = torch.where(s > 0, s, 0.2 * s)
        else:
            q, k = x @ layer.W_q.weight[rows].t(), x @ layer.W_k.weight[rows].t()
            s = (q @ k.t()) / d_h**0.5
        s = torch.where(adj > 0, s, torch.full_like(s, -torch.inf))
        w = torch.exp(s - s.max(1, keepdim=True).values.nan_to_num(neginf=0.0)) * (adj > 0)
        a = w / w.sum(1, keepdim=True).clamp(min=1e-300)  # rows without a sender: 0
        if mask is not None:
            M = torch.zeros(n, n, dtype=torch.float64)
            M[edge_index[1], edge_index[0]] = mask[:, head]
            a = a * M / (1 - p)
        outs.append(a @ z)  # [n, d_h]
    if layer.heads_join == "concat":
        return torch.cat(outs, dim=1)
    if layer.heads_join == "mean":
        return torch.stack(outs).mean(0)
    h = torch.cat(outs, dim=1)
    return h if layer.W_h is None else h @ layer.W_h.weight.t()


@pytest.mark.parametrize("join", ["concat", "mean", "linear"])
@pytest.mark.parametrize("heads", [1, 4])
@pytest.mark.parametrize("impl", ["reference", "fast"])
def test_additive_gat_matches_the_dense_equation(join, heads, impl):
    torch.manual_seed(heads)
    n, dim = 12, 8
    layer = GraphAttention(dim, heads=heads, score="additive", heads_join=join, impl=impl).double().train()
    with torch.no_grad():  # scores of both signs and of size: the LeakyReLU's two sides are used
        layer.a_i.normal_(0, 2.0), layer.a_j.normal_(0, 2.0)
    ei = random_graph(n, 40, seed=heads)  # simple, some nodes without senders
    x = torch.randn(n, dim, dtype=torch.float64, requires_grad=True)
    compare_with_grads(lambda: layer(x, ei), lambda: _dense_gat(x, ei, layer), [x], list(layer.parameters()))


@pytest.mark.parametrize("score", ["additive", "dot"])
def test_attention_dropout_with_a_fixed_mask_matches_the_dense_equation(score):
    torch.manual_seed(2)
    n, dim, heads, p = 10, 6, 3, 0.4
    layer = GraphAttention(dim, heads=heads, score=score, heads_join="concat", attention_dropout=p).double().train()
    ei = random_graph(n, 30, seed=7)
    mask = bernoulli_mask((ei.shape[1], heads), p, 3)
    layer.attention_drop = FixedMask(mask, p)
    x = torch.randn(n, dim, dtype=torch.float64, requires_grad=True)
    compare_with_grads(
        lambda: layer(x, ei), lambda: _dense_gat(x, ei, layer, mask=mask, p=p), [x], list(layer.parameters())
    )


def test_additive_weights_are_the_softmax_over_senders_and_eval_drops_nothing():
    torch.manual_seed(0)
    layer = GraphAttention(4, heads=2, score="additive", heads_join="mean", attention_dropout=0.5).double().eval()
    ei = torch.tensor([[1, 2, 3, 0], [0, 0, 0, 1]])  # 1, 2, 3 -> 0; 0 -> 1
    x = torch.randn(4, 4, dtype=torch.float64)
    h, a = layer(x, ei, return_weights=True)
    z = (x @ layer.W_v.weight.t()).view(4, 2, 4)  # [N, H, d_h]
    s = F.leaky_relu((z[0] * layer.a_i).sum(-1) + (z[[1, 2, 3]] * layer.a_j).sum(-1), 0.2)  # [3, H]
    torch.testing.assert_close(a[:3], torch.softmax(s, dim=0))
    torch.testing.assert_close(a[3], torch.ones(2, dtype=torch.float64))
    torch.testing.assert_close(h, layer(x, ei))  # no dropout in eval


def test_additive_layer_has_no_query_key_maps_and_refuses_bad_options():
    layer = GraphAttention(8, heads=2, score="additive", heads_join="concat")
    names = {name for name, _ in layer.named_parameters()}
    assert names == {"W_v.weight", "a_i", "a_j"}  # W of GAT, and a = [a_i ‖ a_j]: nothing built unused
    assert layer.head_dim == 4
    with pytest.raises(ValueError, match="score"):
        GraphAttention(8, score="cosine")
    with pytest.raises(ValueError, match="divisible"):
        GraphAttention(8, heads=3, heads_join="concat")
    with pytest.raises(ValueError, match="heads_join"):
        GraphAttention(8, heads_join="sum")
