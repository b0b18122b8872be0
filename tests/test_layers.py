"""Each layer of the family against its dense float64 equation (tests/dense.py): values and gradients,
plus the properties a graph layer must have (permutation equivariance, isolated nodes, no edges,
a batch equal to its graphs one by one, inputs left untouched)."""

from __future__ import annotations

import pytest
import torch

from gatedgcn import Graph, collate
from gatedgcn.nn import GatedGCNLayer, GCNLayer, GraphAttention, SelfAttention

import dense
from helpers import compare_with_grads, random_graph, randomise_bn

D = 6


def leaf(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).requires_grad_()


# ----------------------------------------------------------------------------- against the dense equation


@pytest.mark.parametrize("heads", [1, 3])
@pytest.mark.parametrize("hard", [False, True])
def test_self_attention_matches_dense(heads, hard):
    layer = SelfAttention(D, heads=heads, hard=hard).double()
    x = leaf(7, D)
    compare_with_grads(lambda: layer(x), lambda: dense.self_attention(x, layer), [x], list(layer.parameters()))


def test_self_attention_batched_with_padding_equals_each_set_alone():
    layer = SelfAttention(D, heads=2).double()
    x = leaf(2, 5, D)
    mask = torch.tensor([[False] * 5, [False, False, False, True, True]])
    h = layer(x, mask)
    torch.testing.assert_close(h[0], dense.self_attention(x[0], layer))
    torch.testing.assert_close(h[1, :3], dense.self_attention(x[1, :3], layer))


def test_self_attention_hard_picks_argmax_value():
    layer = SelfAttention(D, hard=True).double()
    x = leaf(5, D)
    h, a = layer(x, return_weights=True)
    assert torch.all(a.sum(-1) == 1) and torch.all((a == 0) | (a == 1))
    scores = layer.W_q(x) @ layer.W_k(x).t()
    torch.testing.assert_close(h, layer.W_v(x)[scores.argmax(1)])


@pytest.mark.parametrize("heads", [1, 2])
@pytest.mark.parametrize("simple", [True, False])
def test_graph_attention_matches_dense(heads, simple):
    n = 8
    ei = random_graph(n, 20, seed=1, simple=simple)
    layer = GraphAttention(D, heads=heads).double()
    x = leaf(n, D)
    compare_with_grads(lambda: layer(x, ei), lambda: dense.graph_attention(x, ei, layer), [x], list(layer.parameters()))


@pytest.mark.parametrize("heads", [1, 2])
def test_graph_attention_on_complete_graph_with_self_loops_is_self_attention(heads):
    n = 6
    j, i = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    ei = torch.stack([j.flatten(), i.flatten()])
    ei = ei[:, torch.randperm(ei.shape[1])]  # order of the edges does not matter
    gat = GraphAttention(D, heads=heads).double()
    att = SelfAttention(D, heads=heads).double()
    att.load_state_dict(gat.state_dict())  # same parameter names W_q, W_k, W_v (, W_h)
    x = leaf(n, D)
    torch.testing.assert_close(gat(x, ei), att(x))


@pytest.mark.parametrize("activation", ["relu", "identity"])
@pytest.mark.parametrize("norm", ["mean", "symmetric"])
def test_gcn_matches_dense(activation, norm):
    n = 9
    ei = random_graph(n, 25, seed=2, simple=False)
    layer = GCNLayer(D, 4, activation=activation, norm=norm).double()
    x = leaf(n, D)
    compare_with_grads(
        lambda: layer(x, ei), lambda: dense.gcn(x, ei, layer, activation, norm), [x], list(layer.parameters())
    )


@pytest.mark.parametrize("batch_norm", [False, True])
@pytest.mark.parametrize("residual", [False, True])
@pytest.mark.parametrize("training", [True, False])
def test_gated_gcn_matches_dense(batch_norm, residual, training):
    n, m = 9, 30
    ei = random_graph(n, m, seed=3)
    layer = GatedGCNLayer(D, batch_norm=batch_norm, residual=residual).double().train(training)
    randomise_bn(layer)
    x, e = leaf(n, D, seed=1), leaf(m, D, seed=2)
    compare_with_grads(
        lambda: layer(x, ei, e),
        lambda: dense.gated_gcn(x, ei, e, layer, training_bn=training),
        [x, e],
        list(layer.parameters()),
    )


@pytest.mark.parametrize("training", [True, False])
def test_gated_gcn_with_one_shared_edge_state_matches_dense(training):
    """``e`` of one row is every edge's state (the network's constant edge embedding), on the default path."""
    n, m = 9, 30
    ei = random_graph(n, m, seed=3)
    layer = GatedGCNLayer(D).double().train(training)
    randomise_bn(layer)
    x, row = leaf(n, D, seed=1), leaf(1, D, seed=2)
    compare_with_grads(
        lambda: layer(x, ei, row),
        lambda: dense.gated_gcn(x, ei, row.expand(m, D), layer, training_bn=training),
        [x, row],
        list(layer.parameters()),
    )


def test_gated_gcn_plain_form_without_bn_and_residual():
    """batch_norm=False, residual=False is exactly h = ReLU(A x + Σ η ⊙ B x_j), e' = ReLU(ê)."""
    ei = torch.tensor([[1, 2, 0], [0, 0, 1]])  # 1 -> 0, 2 -> 0, 0 -> 1; node 2 receives nothing
    layer = GatedGCNLayer(2, batch_norm=False, residual=False, eps=0.0).double()
    x, e = leaf(3, 2), leaf(3, 2, seed=5)
    h, e_new, eta = layer(x, ei, e, return_weights=True)
    A, B, C, Dm, E = (lambda t, l=l: t @ l.weight.t() + l.bias for l in (layer.A, layer.B, layer.C, layer.D, layer.E))
    e_hat = [C(e[k]) + Dm(x[j]) + E(x[i]) for k, (j, i) in enumerate(ei.t().tolist())]
    s = [torch.sigmoid(t) for t in e_hat]
    eta0 = [s[0] / (s[0] + s[1]), s[1] / (s[0] + s[1])]  # node 0 has senders 1 and 2
    torch.testing.assert_close(eta[0], eta0[0])
    torch.testing.assert_close(eta[2], torch.ones(2, dtype=torch.float64))  # a single sender gets η = 1 (eps = 0)
    torch.testing.assert_close(h[0], torch.relu(A(x[0]) + eta0[0] * B(x[1]) + eta0[1] * B(x[2])))
    torch.testing.assert_close(h[2], torch.relu(A(x[2])))
    torch.testing.assert_close(e_new[1], torch.relu(e_hat[1]))


# ----------------------------------------------------------------------------- properties of a graph layer


def _layers():
    return {
        "graph_attention": lambda: GraphAttention(D, heads=2).double(),
        "gcn": lambda: GCNLayer(D, D).double(),
        "gated_gcn": lambda: GatedGCNLayer(D).double(),
    }


def _apply(name, layer, x, ei, e):
    return layer(x, ei, e)[0] if name == "gated_gcn" else layer(x, ei)


@pytest.mark.parametrize("name", ["graph_attention", "gcn", "gated_gcn"])
def test_permutation_equivariance(name):
    n, m = 10, 30
    ei = random_graph(n, m, seed=4)
    layer = _layers()[name]()
    x, e = leaf(n, D), leaf(m, D, seed=1)
    perm = torch.randperm(n)  # new node k is old node perm[k]
    inverse = torch.argsort(perm)
    edge_perm = torch.randperm(m)
    h = _apply(name, layer, x, ei, e)
    h_perm = _apply(name, layer, x[perm], inverse[ei][:, edge_perm], e[edge_perm])
    torch.testing.assert_close(h_perm, h[perm])


@pytest.mark.parametrize("name", ["graph_attention", "gcn", "gated_gcn"])
def test_isolated_nodes_and_graphs_without_edges(name):
    layer = _layers()[name]().eval()
    x = leaf(4, D)
    ei = torch.tensor([[0], [1]])  # nodes 2, 3 isolated, node 0 receives nothing
    h = _apply(name, layer, x, ei, leaf(1, D))
    assert torch.isfinite(h).all()
    h_none = _apply(name, layer, x, torch.zeros(2, 0, dtype=torch.long), leaf(0, D))
    assert torch.isfinite(h_none).all()
    if name == "gcn":  # a node with no sender gets f(U x)
        torch.testing.assert_close(h_none, torch.relu(layer.U(x)))
    if name == "graph_attention":  # and no message
        torch.testing.assert_close(h_none, torch.zeros_like(h_none))
    # what a node receives depends only on its senders: the isolated nodes 2, 3 are the same in both
    torch.testing.assert_close(h[2:], h_none[2:])


def test_gated_gcn_empty_graph_in_training():
    layer = GatedGCNLayer(D).double().train()
    h, e = layer(leaf(0, D), torch.zeros(2, 0, dtype=torch.long), leaf(0, D))
    assert h.shape == (0, D) and e.shape == (0, D)


@pytest.mark.parametrize("name", ["graph_attention", "gcn", "gated_gcn"])
def test_batch_equals_graphs_one_by_one(name):
    layer = _layers()[name]().eval()  # eval: batch norm uses running statistics, not the batch's
    randomise_bn(layer) if name == "gated_gcn" else None
    graphs = [
        Graph(
            x=leaf(n, D, seed=n).detach(), edge_index=random_graph(n, m, seed=n), edge_attr=leaf(m, D, seed=m).detach()
        )
        for n, m in ((5, 9), (1, 0), (7, 20))
    ]
    b = collate(graphs)
    h = _apply(name, layer, b.x, b.edge_index, b.edge_attr)
    alone = torch.cat([_apply(name, layer, g.x, g.edge_index, g.edge_attr) for g in graphs])
    torch.testing.assert_close(h, alone)


@pytest.mark.parametrize("name", ["graph_attention", "gcn", "gated_gcn"])
def test_inputs_are_not_modified(name):
    layer = _layers()[name]()
    ei = random_graph(6, 12, seed=7)
    x, e = leaf(6, D).detach(), leaf(12, D).detach()
    copies = (x.clone(), ei.clone(), e.clone())
    _apply(name, layer, x, ei, e).sum().backward()
    for before, after in zip(copies, (x, ei, e)):
        assert torch.equal(before, after)


def test_weights_of_gcn_are_the_normalised_adjacency():
    ei = torch.tensor([[0, 1, 2, 0], [2, 2, 2, 1]])
    _, a = GCNLayer(D, D)(torch.randn(3, D), ei, return_weights=True)
    torch.testing.assert_close(a, torch.tensor([1 / 3, 1 / 3, 1 / 3, 1.0]))


def test_graph_attention_weights_sum_to_one_per_receiver():
    ei = random_graph(8, 30, seed=8)
    _, a = GraphAttention(D, heads=3)(torch.randn(8, D), ei, return_weights=True)
    sums = torch.zeros(8, 3).index_add(0, ei[1], a)
    has = torch.bincount(ei[1], minlength=8) > 0
    torch.testing.assert_close(sums[has], torch.ones(int(has.sum()), 3))


@pytest.mark.parametrize("name", ["graph_attention", "gcn", "gated_gcn"])
@pytest.mark.parametrize(
    "x_shape, ei, e_rows, words",
    [
        ((4, D), torch.tensor([[0, 1], [1, 4]]), 2, "edge_index[1, 1] = 4"),
        ((4, D), torch.tensor([[0, -1], [1, 2]]), 2, "edge_index[0, 1] = -1"),
        ((4, D), torch.tensor([[0.0, 1.0], [1.0, 2.0]]), 2, "integers"),
        ((4, D), torch.tensor([0, 1, 2]), 3, "shape [2, E]"),
        ((4, D + 1), torch.tensor([[0], [1]]), 1, "x must be a [N, 6] tensor"),
    ],
)
def test_bad_raw_inputs_raise_graph_error_naming_the_layer(name, x_shape, ei, e_rows, words):
    from gatedgcn import GraphError

    layer = _layers()[name]()
    x, e = torch.randn(*x_shape, dtype=torch.float64), torch.randn(e_rows, D, dtype=torch.float64)
    with pytest.raises(GraphError) as info:
        _apply(name, layer, x, ei, e)
    assert words in str(info.value) and type(layer).__name__ in str(info.value)


def test_gated_gcn_refuses_edge_states_of_the_wrong_shape():
    from gatedgcn import GraphError

    with pytest.raises(GraphError, match=r"GatedGCNLayer: e must be a \[2, 6\] tensor"):
        GatedGCNLayer(D)(torch.randn(3, D), torch.tensor([[0, 1], [1, 2]]), torch.randn(3, D))
