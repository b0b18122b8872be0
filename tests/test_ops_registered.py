"""The ops of gatedgcn.ops as torch.library ops: opcheck, torch.compile without graph breaks, ordinary outputs,
strided upstream gradients, edge_index changed between forward and backward (issue 17)."""

from __future__ import annotations

import copy

import pytest
import torch

from gatedgcn import ops
from gatedgcn.errors import GraphError
from gatedgcn.nn import GatedGCNLayer
from gatedgcn.ops import _native

from helpers import random_graph

compiled_kernels = pytest.mark.parametrize(
    "compiled",
    [
        pytest.param(True, marks=pytest.mark.skipif(_native._compiler() is None, reason="no C++ compiler")),
        False,
    ],
)


def rand(*shape, seed=0, dtype=torch.float64, grad=True):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=dtype).requires_grad_(grad)


def gated_args(n=12, m=70, d=3, batch_stats=True, scaled=True, residual=True):
    ei = random_graph(n - 2, m, seed=7, simple=False)
    scale = torch.rand(m, dtype=torch.float64) + 0.5 if scaled else None
    gamma, beta = rand(d, seed=8), rand(d, seed=9)
    mean, var = torch.zeros(d, dtype=torch.float64), torch.ones(d, dtype=torch.float64)
    return (rand(m, d, seed=1), rand(d, d, seed=2), rand(d, seed=3), rand(n, d, seed=4), rand(n, d, seed=5),
            rand(n, d, seed=6), ei, scale, gamma, beta, mean, var, 1e-3, batch_stats, 1e-5, residual)  # fmt: skip


@compiled_kernels
@pytest.mark.parametrize("batch_stats", [True, False])
def test_opcheck_gated_edges(compiled, batch_stats):
    with ops.fused_kernels(chunk_rows=16, compiled=compiled):
        torch.library.opcheck(torch.ops.gatedgcn.gated_edges, gated_args(batch_stats=batch_stats))
        torch.library.opcheck(torch.ops.gatedgcn.gated_edges, gated_args(scaled=False, residual=False))
        no_e = (None, *gated_args(scaled=False, residual=False)[1:])  # no edge state: ê = C_b + D x_j + E x_i
        torch.library.opcheck(torch.ops.gatedgcn.gated_edges, no_e)


@pytest.mark.parametrize("with_res", [True, False])
def test_opcheck_norm_relu_residual(with_res):
    R, d = 50, 3
    res = rand(R, d, seed=2) if with_res else None
    args = (rand(R, d, seed=1), res, torch.rand(R, dtype=torch.float64) + 0.5, rand(d, seed=3), rand(d, seed=4))
    stats = (torch.zeros(d, dtype=torch.float64), torch.ones(d, dtype=torch.float64))
    with ops.fused_kernels(chunk_rows=16):
        torch.library.opcheck(torch.ops.gatedgcn.norm_relu_residual, (*args, *stats, True, 1e-5))
        torch.library.opcheck(torch.ops.gatedgcn.norm_relu_residual, (*args, *stats, False, 1e-5))


@pytest.mark.parametrize("heads", [1, 2])
def test_opcheck_gather_scatter_and_edge_dot(heads):
    n, ei = 9, random_graph(8, 60, seed=8, simple=False)
    with ops.fused_kernels(chunk_rows=16):
        torch.library.opcheck(
            torch.ops.gatedgcn.gather_scatter, (rand(60, heads, seed=1), rand(n, heads, 3, seed=2), ei, n)
        )
        torch.library.opcheck(torch.ops.gatedgcn.edge_dot, (rand(n, heads, 3, seed=3), rand(n, heads, 3, seed=4), ei))


def gated_net(d, layers=4):
    return torch.nn.ModuleList(GatedGCNLayer(d) for _ in range(layers))


def loss_of(net, x, ei, e):
    h = x
    for layer in net:
        h, e = layer(h, ei, e)
    return h.pow(2).mean() + e.pow(2).mean()


def train_step(net, opt, x, ei, e):
    loss = loss_of(net, x, ei, e)
    loss.backward()
    opt.step()
    opt.zero_grad()
    return loss


@compiled_kernels
def test_a_compiled_training_step_of_four_gated_layers_has_no_graph_break(compiled):
    """Forward, backward and the optimizer step under dynamo: no graph break at our ops (the one break is dynamo's
    at ``loss.backward()``); forward and loss in one graph (fullgraph), AOTAutograd's backward through ours."""
    torch._dynamo.reset()
    N, E, d = 60, 300, 8
    x, e, ei = rand(N, d, seed=1, grad=False), rand(E, d, seed=2, grad=False), random_graph(N, E, seed=3, simple=False)
    net = gated_net(d).double()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    with ops.fused_kernels(chunk_rows=64, compiled=compiled):
        explained = torch._dynamo.explain(train_step)(net, opt, x, ei, e)
        # the one break is dynamo's own at Tensor.backward(); none in gatedgcn's code
        assert [r.reason.splitlines()[0] for r in explained.break_reasons] == ["Unsupported Tensor.backward() call"]
        assert not [f for r in explained.break_reasons for f in r.user_stack if "/gatedgcn/" in f.filename]
        in_graphs = [str(n.target) for g in explained.graphs for n in g.graph.nodes if n.op == "call_function"]
        assert "gatedgcn.gated_edges_backward" in in_graphs
        forward = torch._dynamo.explain(loss_of)(net, x, ei, e)
        assert forward.graph_count == 1 and forward.graph_break_count == 0
        in_graph = [str(n.target) for n in forward.graphs[0].graph.nodes if n.op == "call_function"]
        assert in_graph.count("gatedgcn.gated_edges") == 4 and in_graph.count("gatedgcn.norm_relu_residual") == 4
        # forward and loss as one graph (fullgraph: any break raises), trained as the eager network is
        net_c, net_e = copy.deepcopy(net), copy.deepcopy(net)
        opt_c, opt_e = (torch.optim.Adam(n.parameters(), lr=1e-3) for n in (net_c, net_e))
        compiled_loss = torch.compile(loss_of, fullgraph=True, backend="aot_eager")
        for _ in range(2):
            for f, n, o in ((compiled_loss, net_c, opt_c), (loss_of, net_e, opt_e)):
                f(n, x, ei, e).backward()
                o.step()
                o.zero_grad()
        for a, b in zip(net_c.parameters(), net_e.parameters()):
            torch.testing.assert_close(a, b)


@compiled_kernels
def test_a_compiled_layer_returns_edge_states_of_the_right_shape(compiled):
    """Issue 17, item 2: torch.compile(GatedGCNLayer(16)) gave e' of [16384, 4] (a pooled uint8 view)."""
    torch._dynamo.reset()
    N, E, d = 8192, 16384, 16
    x, e, ei = torch.randn(N, d), torch.randn(E, d), torch.randint(0, N, (2, E))
    layer = GatedGCNLayer(d)
    with torch.no_grad(), ops.fused_kernels(chunk_rows=None, compiled=compiled):
        h, e_new = torch.compile(layer, backend="aot_eager")(x, ei, e)
        h_eager, e_eager = layer(x, ei, e)
    assert e_new.shape == (E, d) and h.shape == (N, d)
    torch.testing.assert_close(e_new, e_eager)
    torch.testing.assert_close(h, h_eager)


@compiled_kernels
@pytest.mark.parametrize("kind", ["expanded", "transposed", "sliced", "summed", "one row"])
def test_a_strided_upstream_gradient_gives_the_reference_gradients(compiled, kind):
    """Issue 17, item 1: a gradient into e' with strides (1, 0) gave e.grad off by up to 5.2.  ``summed`` (strides
    (0, 0)) and ``one row`` (strides (0, 1)) reach the compiled sweeps as one row with row stride 0 (not copied).
    In float64: the sum's gradients into the edge BN's γ reach ~800, beyond a float32 comparison at 1e-4."""
    N, E, d = 500, 4000, 32
    torch.manual_seed(0)
    x, e = torch.randn(N, d, dtype=torch.float64), torch.randn(E, d, dtype=torch.float64, requires_grad=True)
    ei, w = torch.randint(0, N, (2, E)), torch.randn(E, dtype=torch.float64)
    fast = GatedGCNLayer(d).double()
    ref = copy.deepcopy(fast)
    ref.impl = "reference"
    big = torch.randn(2 * d, E, dtype=torch.float64)
    grads = []
    for layer in (fast, ref):
        e.grad = None
        with ops.fused_kernels(chunk_rows=None, compiled=compiled):
            _, e_new = layer(x, ei, e)
        if kind == "expanded":
            loss = (e_new.sum(1) * w).sum()  # ∂L/∂e' = w expanded over the columns: strides (1, 0)
        elif kind == "transposed":
            loss = (e_new * big[:d].t()).sum()  # ∂L/∂e' a transposed tensor
        elif kind == "sliced":
            loss = (e_new * big[::2].t()).sum()  # ∂L/∂e' a sliced, transposed tensor
        elif kind == "summed":
            loss = 0.5 * e_new.sum()  # ∂L/∂e' one number expanded: strides (0, 0)
        else:
            loss = (e_new * big[:d, 0]).sum()  # ∂L/∂e' one row expanded over the edges: strides (0, 1)
        loss.backward()
        grads.append((e.grad.clone(), layer.bn_e.weight.grad.clone(), layer.C.weight.grad.clone()))
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


@compiled_kernels
def test_edge_index_changed_in_place_before_backward_is_refused(compiled):
    """Issue 17: changing edge_index between forward and backward made the compiled backward write out of bounds."""
    N, E, d = 50, 400, 8
    x, e = rand(N, d, seed=1), rand(E, d, seed=2)
    layer = GatedGCNLayer(d).double()
    with ops.fused_kernels(compiled=compiled):
        ei = random_graph(N, E, seed=3, simple=False)
        h, e_new = layer(x, ei, e)
        ei[1, :10] = 10**7  # in place: autograd's version check on the saved edge_index
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            (h.sum() + e_new.sum()).backward()
        ei = random_graph(N, E, seed=3, simple=False)
        h, e_new = layer(x, ei, e)
        ei.numpy()[1, :10] = 10**7  # behind autograd's back: the kernels check the ids themselves
        with pytest.raises((GraphError, IndexError)):
            (h.sum() + e_new.sum()).backward()


def test_outputs_are_ordinary_tensors():
    """No pooled views: every output owns its storage, of its own dtype and size."""
    N, E, d = 300, 2000, 8
    layer = GatedGCNLayer(d)
    x, e, ei = torch.randn(N, d), torch.randn(E, d), torch.randint(0, N, (2, E))
    with ops.fused_kernels(chunk_rows=None):
        h, e_new = layer(x, ei, e)
    for t in (h, e_new):
        assert t.untyped_storage().nbytes() == t.numel() * t.element_size() and t.is_contiguous()
