"""The layers as a PyG user calls them: raw input widths (input and edge projections), ``edge_attr`` by name, no
edge input, ``edge_weight``, ``edge_update=False``, ``reset_parameters``, ``in_channels`` / ``out_channels``.

Each new path is held against dense float64 equations written out here (or in ``dense.py``), for values and
gradients, on the default path and with the fused kernels forced on (both gated kernel families)."""

from __future__ import annotations

import contextlib
import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from gatedgcn import ops
from gatedgcn.errors import GraphError
from gatedgcn.nn import GatedGCNLayer, GCNLayer, GraphAttention
from gatedgcn.ops import _native

import dense
from helpers import compare_with_grads, random_graph

N, M = 30, 120


def leaf(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64).requires_grad_()


@pytest.fixture(params=["default", "fused-torch", "fused-native"])
def path(request):
    """The default path (at these sizes: the plain equations) and the fused kernels forced on, in 16-row chunks."""
    if request.param == "default":
        yield contextlib.nullcontext
        return
    if request.param == "fused-native" and _native.library() is None:
        pytest.skip("no C++ compiler: the compiled kernels cannot be built here")
    yield lambda: ops.fused_kernels(chunk_rows=16, compiled=request.param == "fused-native")


def randomise_bn(layer):
    with torch.no_grad():
        for bn in (m for m in layer.modules() if isinstance(m, nn.BatchNorm1d)):
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.5, 0.5)


# ----------------------------------------------------------------------------- gated GCN


def test_gated_projections_against_dense(path):
    """``GatedGCNLayer(7, 6, edge_dim=4)`` on raw features is the dense layer on ``P x`` and ``Q edge_attr``."""
    ei = random_graph(N, M, seed=1)
    layer = GatedGCNLayer(7, 6, edge_dim=4).double()
    randomise_bn(layer)
    x, a = leaf(N, 7, seed=2), leaf(M, 4, seed=3)
    assert (layer.in_channels, layer.out_channels, layer.edge_dim) == (7, 6, 4)

    def ref():
        return dense.gated_gcn(dense.linear(x, layer.P), ei, dense.linear(a, layer.Q), layer, training_bn=True)

    with path():
        compare_with_grads(lambda: layer(x, ei, edge_attr=a), ref, [x, a], list(layer.parameters()))
        compare_with_grads(lambda: layer(x, ei, a), ref, [x, a], list(layer.parameters()))  # e, positionally


@pytest.mark.parametrize("residual", [True, False])
def test_gated_without_edge_input_against_dense(path, residual):
    """No edge input: every edge starts from the zero state (ê = c + D x_j + E x_i, c the bias of C)."""
    ei = random_graph(N, M, seed=4)
    layer = GatedGCNLayer(5, residual=residual).double()
    randomise_bn(layer)
    x = leaf(N, 5, seed=5)
    zero = torch.zeros(M, 5, dtype=torch.float64)
    with path():
        compare_with_grads(
            lambda: layer(x, ei),
            lambda: dense.gated_gcn(x, ei, zero, layer, training_bn=True),
            [x],
            list(layer.parameters()),
        )
        h, e_new = layer(x, ei)
    # the bias of C is learned: it reaches the output
    assert torch.autograd.grad(h.square().sum() + e_new.square().sum(), layer.C.bias)[0].abs().sum() > 0


def test_gated_without_edge_update_builds_and_returns_no_edge_state(path):
    ei = random_graph(N, M, seed=6)
    last = GatedGCNLayer(5, edge_update=False).double()
    randomise_bn(last)
    assert not any(k.startswith("bn_e") for k in last.state_dict())
    x, e = leaf(N, 5, seed=7), leaf(M, 5, seed=8)
    # the dense layer with last's own weights (its e' needs an edge BN: a spare one, whose output is not compared)
    weights = SimpleNamespace(**{**dict(last.named_children()), "bn_e": nn.BatchNorm1d(5).double()}, eps=last.eps)
    weights.residual = True

    def ref():
        return dense.gated_gcn(x, ei, e, weights, training_bn=True)[0]

    with path():
        h, e_new = last(x, ei, e)
        assert e_new is None
        compare_with_grads(lambda: last(x, ei, e)[0], ref, [x, e], list(last.parameters()))
        # every parameter it has reaches h (DDP needs no find_unused_parameters)
        grads = torch.autograd.grad(h.square().sum(), list(last.parameters()), allow_unused=True)
        assert all(g is not None for g in grads)


def test_gated_edge_input_is_checked():
    layer = GatedGCNLayer(3, 4, edge_dim=2)
    x, ei = torch.randn(4, 3), torch.tensor([[0, 1, 2], [1, 2, 3]])
    with pytest.raises(GraphError, match="not both"):
        layer(x, ei, torch.randn(3, 2), edge_attr=torch.randn(3, 2))
    with pytest.raises(GraphError, match=r"edge_attr must be a \[3, 2\]"):
        layer(x, ei, edge_attr=torch.randn(3, 5))
    with pytest.raises(GraphError, match=r"x must be a \[N, 3\]"):
        layer(torch.randn(4, 4), ei)
    with pytest.raises(GraphError, match=r"e must be a \[3, 3\]"):
        GatedGCNLayer(3)(x, ei, torch.randn(3, 2))


def test_positional_dim_still_maps_dim_to_dim():
    layer = GatedGCNLayer(8)
    assert (layer.in_channels, layer.out_channels) == (8, 8) and layer.P is None and layer.Q is None
    assert sorted(n.split(".")[0] for n, _ in layer.named_parameters()) == sorted(
        [*(c for c in "ABCDE" for _ in range(2)), "bn_e", "bn_e", "bn_h", "bn_h"]
    )


# ----------------------------------------------------------------------------- GCN with edge weights


def dense_weighted_gcn(x, ei, w, layer, norm):
    adj = torch.zeros(N, N, dtype=torch.float64)
    adj = adj.index_put((ei[1], ei[0]), w, accumulate=True)  # Adj[i, j] = w_ij
    d = adj.sum(1)
    d = torch.where(d > 0, d, torch.ones_like(d))
    prop = adj / d[:, None] if norm == "mean" else adj / torch.sqrt(d[:, None] * d[None, :])
    return torch.relu(dense.linear(x, layer.U) + prop @ dense.linear(x, layer.V))


@pytest.mark.parametrize("norm", ["mean", "symmetric"])
def test_gcn_edge_weight_against_dense(path, norm):
    ei = random_graph(N - 4, M, seed=9)  # the last 4 nodes neither send nor receive
    layer = GCNLayer(7, 5, norm=norm).double()
    x = leaf(N, 7, seed=10)
    w = (torch.rand(M, dtype=torch.float64, generator=torch.Generator().manual_seed(11)) * 2).requires_grad_()
    with torch.no_grad():
        w[:7] = 0.0  # zero weights; some receivers may have weighted degree 0
    assert (layer.in_channels, layer.out_channels) == (7, 5)
    with path():
        compare_with_grads(
            lambda: layer(x, ei, w), lambda: dense_weighted_gcn(x, ei, w, layer, norm), [x, w], list(layer.parameters())
        )
        compare_with_grads(
            lambda: layer(x, ei, edge_weight=torch.ones(M, dtype=torch.float64)),
            lambda: dense.gcn(x, ei, layer, "relu", norm),
            [x],
            list(layer.parameters()),
        )


def test_gcn_edge_weight_is_checked():
    layer, x, ei = GCNLayer(2, 2), torch.randn(3, 2), torch.tensor([[0, 1], [1, 2]])
    with pytest.raises(GraphError, match=r"edge_weight must be a float \[2\]"):
        layer(x, ei, torch.ones(3))
    with pytest.raises(GraphError, match=">= 0"):
        layer(x, ei, torch.tensor([1.0, -1.0]))


# ----------------------------------------------------------------------------- graph attention, in_dim -> out_dim


def dense_attention(x, ei, layer):
    """Per head: ``a_ij = softmax_{j→i}(k_j·q_i / √d_h)``, ``h = W_h [Σ_j a_ij v_j]_heads`` (dense, simple graph)."""
    adj = dense.adjacency(ei, N)
    H, d_h = layer.heads, layer.head_dim
    q, k, v = (dense.linear(x, lin).view(N, H, d_h) for lin in (layer.W_q, layer.W_k, layer.W_v))
    s = torch.einsum("ihd,jhd->hij", q, k) / math.sqrt(d_h)  # [H, i, j]
    s = s.masked_fill(adj[None] == 0, float("-inf"))
    a = torch.softmax(s, dim=-1).nan_to_num(0.0)  # a receiver without senders: 0
    out = torch.einsum("hij,jhd->ihd", a, v).reshape(N, H * d_h)  # [N, H·d_h]
    return out if layer.W_h is None else dense.linear(out, layer.W_h)


@pytest.mark.parametrize("heads, join", [(1, "linear"), (2, "linear"), (2, "concat")])
def test_graph_attention_in_dim_to_out_dim_against_dense(path, heads, join):
    ei = random_graph(N, M, seed=12)
    layer = GraphAttention(7, 6, heads=heads, heads_join=join).double()
    assert (layer.in_channels, layer.out_channels) == (7, 6)
    x = leaf(N, 7, seed=13)
    with path():
        compare_with_grads(lambda: layer(x, ei), lambda: dense_attention(x, ei, layer), [x], list(layer.parameters()))
        assert layer(x, ei).shape == (N, 6)


# ----------------------------------------------------------------------------- reset_parameters


@pytest.mark.parametrize(
    "make",
    [
        lambda: GatedGCNLayer(7, 6, edge_dim=4),
        lambda: GCNLayer(7, 6),
        lambda: GraphAttention(7, 6, heads=2),
        lambda: GraphAttention(6, heads=2, score="additive"),
    ],
)
def test_reset_parameters_gives_the_weights_of_a_fresh_layer(make):
    torch.manual_seed(3)
    fresh = make()
    torch.manual_seed(3)
    used = make()
    with torch.no_grad():
        for p in used.parameters():
            p.add_(1.0)
        for b in used.buffers():
            b.add_(1)
    torch.manual_seed(3)
    used.reset_parameters()
    for (name, a), b in zip(fresh.state_dict().items(), used.state_dict().values()):
        torch.testing.assert_close(a, b, msg=lambda s, name=name: f"{name}: {s}")


# ----------------------------------------------------------------------------- inside a PyG model


class _RawPygModel(nn.Module):
    """A PyG user's model on raw features: our layers read ``data.x`` [N, 3] and ``data.edge_attr`` [E, 2] directly;
    the last gated layer computes no edge state (nothing reads it)."""

    def __init__(self, d: int = 16) -> None:
        super().__init__()
        self.first = GatedGCNLayer(3, d, edge_dim=2)
        self.last = GatedGCNLayer(d, edge_update=False)
        self.out = nn.Linear(d, 2)

    def forward(self, data):
        from torch_geometric.nn import global_mean_pool

        h, e = self.first(data.x, data.edge_index, edge_attr=data.edge_attr)  # [N, d], [E, d]
        h, _ = self.last(h, data.edge_index, e)  # [N, d]
        return self.out(global_mean_pool(h, data.batch))  # [B, 2]


def test_raw_feature_layers_train_in_a_pyg_dataloader():
    pytest.importorskip("torch_geometric")
    from torch_geometric.data import Data
    from torch_geometric.loader import DataLoader

    torch.manual_seed(0)
    graphs = []
    for k in range(40):  # class 1: the edges' first feature is large; class 0: small (only the edges tell them apart)
        n, y = 4 + k % 3, k % 2
        ei = torch.stack([torch.arange(n), (torch.arange(n) + 1) % n])
        edge_attr = torch.randn(n, 2)
        edge_attr[:, 0] = 2.0 if y else -2.0
        graphs.append(Data(x=torch.randn(n, 3), edge_index=ei, edge_attr=edge_attr, y=torch.tensor(y)))
    model = _RawPygModel()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(15):
        for batch in DataLoader(graphs, batch_size=8, shuffle=True):
            loss = nn.functional.cross_entropy(model(batch), batch.y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
    assert sum(losses[-5:]) / 5 < 0.1 < sum(losses[:5]) / 5
    assert all(p.grad is not None for p in model.parameters())  # no parameter left unused
