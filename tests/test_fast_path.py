"""The fused kernels of gatedgcn.ops (impl="fast", forced on at every size) against the plain reference code and
finite differences.

Every comparison runs in float64 with tiny chunks, so that the edges are streamed in several
chunks and a chunk boundary falls inside the segments of a receiver.
"""

from __future__ import annotations

import copy

import pytest
import torch

from gatedgcn import ops
from gatedgcn.app.config import Config
from gatedgcn.errors import ConfigError
from gatedgcn.graph import Batch
from gatedgcn.model import GraphNet, ModelSpec
from gatedgcn.nn import BatchNorm, GatedGCNLayer, GCNLayer, GraphAttention
from gatedgcn.ops import _native

from helpers import compare_with_grads, random_graph, randomise_bn

D = 5


@pytest.fixture(autouse=True)
def _small_chunks():
    """The fused kernels for any size, in 64-row chunks: a few hundred edges cross several chunk boundaries."""
    with ops.fused_kernels(chunk_rows=64):
        yield


@pytest.fixture(params=["native", "torch", "native-kept", "torch-kept"])
def gated_backend(request):
    """The gated kernels twice: the compiled CPU sweeps (gatedgcn.ops._gated_native) and the PyTorch ones
    (gatedgcn.ops._gated_torch); each recomputing ê in backward, and keeping forward's (``-kept``)."""
    native = request.param.startswith("native")
    if native and _native.library() is None:
        pytest.skip("no C++ compiler: the compiled kernels cannot be built here")
    with ops.fused_kernels(chunk_rows=64, compiled=native, keep_e_hat=request.param.endswith("kept")):
        yield request.param


def leaf(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64).requires_grad_()


def both(layer, *args, **kwargs):
    """Two closures calling the same layer (same weights) with impl fast and impl reference."""

    def run(impl):
        layer.impl = impl
        return layer(*args, **kwargs)

    return (lambda: run("fast")), (lambda: run("reference"))


def a_graph(n=40, m=200, seed=0):
    """Unsorted edges with repeats and self-loops; nodes n-3 .. n-1 have no edge at all (isolated)."""
    ei = random_graph(n - 3, m, seed=seed, simple=False)
    assert (ei[1][1:] < ei[1][:-1]).any()  # unsorted receivers
    return ei


# ----------------------------------------------------------------------------- gated GCN


@pytest.mark.parametrize("batch_norm", [True, False])
@pytest.mark.parametrize("residual", [True, False])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("scaled", [False, True])
def test_gated_gcn_fast_equals_reference(batch_norm, residual, training, scaled, gated_backend):
    n, ei = 40, a_graph()
    m = ei.shape[1]
    layer = GatedGCNLayer(D, batch_norm=batch_norm, residual=residual).double().train(training)
    randomise_bn(layer)
    x, e = leaf(n, D, seed=1), leaf(m, D, seed=2)
    scales = {}
    if scaled:
        scales = {
            "node_scale": torch.rand(n, dtype=torch.float64) + 0.1,
            "edge_scale": torch.rand(m, dtype=torch.float64) + 0.1,
        }
    compare_with_grads(*both(layer, x, ei, e, **scales), [x, e], list(layer.parameters()))
    # the running statistics are updated alike
    fast, ref = copy.deepcopy(layer), copy.deepcopy(layer)
    ref.impl = "reference"
    fast(x, ei, e, **scales), ref(x, ei, e, **scales)
    for (name, a), b in zip(fast.named_buffers(), ref.buffers()):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-10, msg=lambda s, name=name: f"{name}: {s}")


def test_gated_gcn_fast_returns_the_reference_gates_and_their_gradients(gated_backend):
    n, ei = 40, a_graph(seed=4)
    layer = GatedGCNLayer(D).double()
    x, e = leaf(n, D, seed=1), leaf(ei.shape[1], D, seed=2)
    compare_with_grads(*both(layer, x, ei, e, return_weights=True), [x, e], list(layer.parameters()))


def test_gated_gcn_fast_with_eps_zero_gives_zero_message_to_a_node_without_senders(gated_backend):
    ei = torch.tensor([[1, 2, 0], [0, 0, 1]])  # node 2 receives nothing
    layer = GatedGCNLayer(3, batch_norm=False, residual=False, eps=0.0).double()
    x, e = leaf(3, 3, seed=1), leaf(3, 3, seed=2)
    fast, ref = both(layer, x, ei, e)
    compare_with_grads(fast, ref, [x, e], list(layer.parameters()))
    assert torch.isfinite(fast()[0]).all()


@pytest.mark.parametrize("n, m", [(6, 0), (0, 0)])
@pytest.mark.parametrize("training", [True, False])
def test_gated_gcn_fast_on_empty_graphs(n, m, training, gated_backend):
    layer = GatedGCNLayer(D).double().train(training)
    randomise_bn(layer)
    x, e = leaf(n, D, seed=1), leaf(m, D, seed=2)
    fast, ref = both(layer, x, torch.zeros(2, 0, dtype=torch.long), e)
    (h_f, e_f), (h_r, _) = fast(), ref()
    torch.testing.assert_close(h_f, h_r)
    assert e_f.shape == (0, D) and h_f.shape == (n, D)
    (h_f.sum() + e_f.sum()).backward()
    assert x.grad is None or torch.isfinite(x.grad).all()


def test_gated_gcn_fast_does_not_write_into_its_inputs(gated_backend):
    n, ei = 40, a_graph()
    layer = GatedGCNLayer(D).double()
    x, e = leaf(n, D, seed=1), leaf(ei.shape[1], D, seed=2)
    x0, e0, ei0 = x.detach().clone(), e.detach().clone(), ei.clone()
    h, e_new = layer(x, ei, e)
    (h.sum() + e_new.sum()).backward()
    assert torch.equal(x, x0) and torch.equal(e, e0) and torch.equal(ei, ei0)


def test_gated_gcn_fast_outputs_and_gradients_outlive_later_calls(gated_backend):
    """Outputs and gradients held across later calls keep their values (no kernel reuses their memory)."""
    n, ei = 40, a_graph()
    layer = GatedGCNLayer(D).double()
    kept = []
    for seed in range(3):
        x, e = leaf(n, D, seed=2 * seed), leaf(ei.shape[1], D, seed=2 * seed + 1)
        h, e_new = layer(x, ei, e)
        (h.sum() + e_new.sum()).backward()
        kept.append((x, e, h.detach(), e_new.detach(), x.grad, e.grad))
    for x, e, h, e_new, dx, de in kept:
        layer.impl = "reference"
        x_r, e_r = x.detach().clone().requires_grad_(), e.detach().clone().requires_grad_()
        h_r, e_new_r = layer(x_r, ei, e_r)
        (h_r.sum() + e_new_r.sum()).backward()
        for a, b in ((h, h_r), (e_new, e_new_r), (dx, x_r.grad), (de, e_r.grad)):
            torch.testing.assert_close(a, b.detach(), atol=1e-10, rtol=1e-10)


def test_gated_gcn_fast_backward_twice_through_one_graph(gated_backend):
    """retain_graph=True: a second backward through the saved ê agrees with the first."""
    n, ei = 40, a_graph(seed=3)
    layer = GatedGCNLayer(D).double()
    x, e = leaf(n, D, seed=1), leaf(ei.shape[1], D, seed=2)
    h, e_new = layer(x, ei, e)
    loss = (h * h).sum() + (e_new * e_new).sum()
    first = torch.autograd.grad(loss, [x, e, *layer.parameters()], retain_graph=True)
    second = torch.autograd.grad(loss, [x, e, *layer.parameters()])
    layer.impl = "reference"
    h_r, e_new_r = layer(x, ei, e)
    reference = torch.autograd.grad((h_r * h_r).sum() + (e_new_r * e_new_r).sum(), [x, e, *layer.parameters()])
    for a, b, r in zip(first, second, reference):
        torch.testing.assert_close(a, r, atol=1e-10, rtol=1e-10)
        torch.testing.assert_close(b, r, atol=1e-10, rtol=1e-10)


def test_impl_is_checked():
    with pytest.raises(ValueError, match="impl"):
        GatedGCNLayer(D, impl="fused")
    with pytest.raises(ValueError, match="impl"):
        GCNLayer(D, D, impl="sparse")
    with pytest.raises(ValueError, match="impl"):
        GraphAttention(D, impl="")
    with pytest.raises(ConfigError, match="model.impl"):
        Config().with_overrides(["model.impl=turbo"])


# ----------------------------------------------------------------------------- GCN and graph attention


@pytest.mark.parametrize("norm", ["mean", "symmetric"])
def test_gcn_fast_equals_reference(norm):
    n, ei = 40, a_graph(seed=5)
    layer = GCNLayer(D, 3, norm=norm).double()
    x = leaf(n, D, seed=1)
    compare_with_grads(*both(layer, x, ei, return_weights=True), [x], list(layer.parameters()))


@pytest.mark.parametrize("heads", [1, 3])
def test_graph_attention_fast_equals_reference(heads):
    n, ei = 40, a_graph(seed=6)
    layer = GraphAttention(D, heads=heads).double()
    x = leaf(n, D, seed=1)
    compare_with_grads(*both(layer, x, ei, return_weights=True), [x], list(layer.parameters()))


@pytest.mark.parametrize("n", [0, 4])
def test_gcn_and_attention_fast_on_graphs_without_edges(n):
    ei = torch.zeros(2, 0, dtype=torch.long)
    for layer in (GCNLayer(D, 3).double(), GraphAttention(D, heads=2).double()):
        x = leaf(n, D, seed=1)
        fast, ref = both(layer, x, ei)
        torch.testing.assert_close(fast(), ref())
        fast().sum().backward()


def test_graph_net_fast_equals_reference(gated_backend):
    """The whole network (graph-size normalisation, BN, residual, readout) with both layer codes."""
    g = torch.Generator().manual_seed(0)
    nodes = torch.tensor([7, 1, 12])  # a graph of one node and no edge among them
    ei = torch.cat([random_graph(7, 20, seed=1), random_graph(12, 40, seed=2) + 8], dim=1)
    batch = Batch(
        x=torch.randn(20, 3, generator=g, dtype=torch.float64),
        edge_index=ei,
        edge_attr=None,
        y=None,
        node_graph=torch.repeat_interleave(torch.arange(3), nodes),
        nodes_per_graph=nodes,
        edges_per_graph=torch.tensor([20, 0, 40]),
    )
    for layer in ("gated_gcn", "gcn", "graph_attention"):
        spec = ModelSpec(layer=layer, layers=2, hidden=8, out_dim=2, in_dim=3, graph_size_norm=True)
        net = GraphNet(spec).double()

        def run(impl, net=net):
            for m in net.modules():
                if hasattr(m, "impl"):
                    m.impl = impl
            return net(batch)

        compare_with_grads(lambda: run("fast"), lambda: run("reference"), [], list(net.parameters()))


# ----------------------------------------------------------------------------- the kernels alone, by finite differences


@pytest.mark.parametrize("batch_norm", [True, False])
def test_gated_edges_gradcheck(batch_norm, gated_backend):
    """All outputs (e', m, ê) with respect to e, C, Dx, Ex, Bx and the edge BN's γ, β."""
    n, ei = 12, random_graph(10, 70, seed=7, simple=False)  # nodes 10, 11 isolated
    m, d = ei.shape[1], 3
    bn = BatchNorm(d).double() if batch_norm else None
    scale = torch.rand(m, dtype=torch.float64) + 0.5

    def f(e, C_w, C_b, Dx, Ex, Bx, *gamma_beta):  # γ, β are bn's own parameters, perturbed in place by gradcheck
        return ops.gated_edges(e, C_w, C_b, Dx, Ex, Bx, ei, 1e-3, bn, scale, residual=True)

    args = (
        leaf(m, d, seed=1),
        leaf(d, d, seed=2),
        leaf(d, seed=3),
        leaf(n, d, seed=4),
        leaf(n, d, seed=5),
        leaf(n, d, seed=6),
    )
    if bn is not None:
        randomise_bn(bn)
        args += (bn.weight, bn.bias)
    assert torch.autograd.gradcheck(f, args, fast_mode=True)


@pytest.mark.parametrize("batch_stats", [True, False])
@pytest.mark.parametrize("scaled", [True, False])
def test_norm_relu_residual_gradcheck(batch_stats, scaled):
    R, d = 70, 3
    mean, var = (
        torch.rand(d, dtype=torch.float64) - 0.5,
        torch.rand(d, dtype=torch.float64) + 0.5,
    )  # used without batch_stats
    scale = torch.rand(R, dtype=torch.float64) + 0.5 if scaled else None

    def f(t, res, gamma, beta):
        return torch.ops.gatedgcn.norm_relu_residual(t, res, scale, gamma, beta, mean, var, batch_stats, 1e-5)[0]

    args = (leaf(R, d, seed=1), leaf(R, d, seed=2), leaf(d, seed=3), leaf(d, seed=4))
    assert torch.autograd.gradcheck(f, args, fast_mode=True)


def test_norm_relu_residual_equals_batch_norm_and_updates_its_statistics():
    R, d = 150, 4
    ours, theirs = BatchNorm(d).double(), BatchNorm(d).double()
    t, res = leaf(R, d, seed=1), leaf(R, d, seed=2)
    for _ in range(2):  # two steps: the running statistics are blended, not only set
        torch.testing.assert_close(ops.norm_relu_residual(t, res, ours), res + torch.relu(theirs(t)))
    torch.testing.assert_close(ours.running_mean, theirs.running_mean)
    torch.testing.assert_close(ours.running_var, theirs.running_var)
    assert int(ours.num_batches_tracked) == 2
    one = leaf(1, d, seed=3)  # one row in training: the running statistics are used and kept
    torch.testing.assert_close(ops.norm_relu_residual(one, None, ours), torch.relu(theirs(one)))
    torch.testing.assert_close(ours.running_var, theirs.running_var)


@pytest.mark.parametrize("heads", [1, 2])
def test_gather_scatter_and_edge_dot_gradcheck(heads):
    n, ei = 9, random_graph(8, 150, seed=8, simple=False)
    m, d = ei.shape[1], 3
    w, x = leaf(m, heads, seed=1), leaf(n, heads, d, seed=2)
    assert torch.autograd.gradcheck(lambda w, x: ops.gather_scatter(w, x, ei, n), (w, x))
    q, k = leaf(n, heads, d, seed=3), leaf(n, heads, d, seed=4)
    assert torch.autograd.gradcheck(lambda q, k: ops.edge_dot(q, k, ei), (q, k))
    j, i = ei
    torch.testing.assert_close(ops.edge_dot(q, k, ei), (q[i] * k[j]).sum(-1))  # s_ij = q_i · k_j
    dense = torch.zeros(n, n, heads, dtype=torch.float64).index_put(
        (i, j), w, accumulate=True
    )  # W[i, j] = Σ w over repeats
    torch.testing.assert_close(ops.gather_scatter(w, x, ei, n), torch.einsum("ijh,jhd->ihd", dense, x))
