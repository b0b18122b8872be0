"""``ops.linear`` (``gatedgcn::linear``: oneDNN's product where it is the faster, else ``F.linear``) against the dense
float64 equation ``y = x Wᵀ + b``: values and the gradients of x, W and b, forced on at every size (and the rows
padded to a bucket), on the default path from ``MIN_ROWS`` rows, on strided inputs and upstream gradients; and the
gated layer on the default path at a size where it takes every fast kernel (oneDNN's product, the compiled sweeps)
against its dense equations in float64."""

from __future__ import annotations

import copy

import pytest
import torch

from gatedgcn import ops
from gatedgcn.nn import GatedGCNLayer
from gatedgcn.ops import _native, _select
from gatedgcn.ops import linear_maps as L

import dense
from helpers import random_graph, randomise_bn

needs_onednn = pytest.mark.skipif(not L.onednn_available(), reason="this torch has no oneDNN linear kernel")


def layout(t: torch.Tensor, how: str) -> torch.Tensor:
    """``t`` laid out contiguous, transposed (strides (1, rows)) or sliced (every other column of a wider tensor)."""
    if how == "transposed":
        return t.t().contiguous().t()
    if how == "sliced":
        wide = torch.zeros(t.shape[0], 2 * t.shape[1], dtype=t.dtype)[:, ::2]
        return wide.copy_(t)
    return t


def check_against_float64(rows: int, how: str, bias: bool, upstream: str = "random") -> None:
    g = torch.Generator().manual_seed(rows)
    x64 = torch.randn(rows, 70, generator=g, dtype=torch.float64)
    W64, b64 = (
        torch.randn(90, 70, generator=g, dtype=torch.float64) / 8,
        torch.randn(90, generator=g, dtype=torch.float64),
    )
    x = layout(x64.float(), how).requires_grad_()
    W, b = W64.float().requires_grad_(), b64.float().requires_grad_() if bias else None
    leaves64 = [t.clone().requires_grad_() for t in (x64, W64, b64)]
    y = ops.linear(x, W, b)
    y64 = leaves64[0] @ leaves64[1].t() + (leaves64[2] if bias else 0)  # the equation, in float64
    torch.testing.assert_close(y.double(), y64.detach(), atol=2e-4, rtol=1e-4)
    if upstream == "broadcast":  # y.sum(): the gradient is one value broadcast (strides (0, 0))
        y.sum().backward()
        y64.sum().backward()
    else:
        proj = torch.randn(y.shape, generator=g, dtype=torch.float64)
        (y * proj.float().t().contiguous().t()).sum().backward()  # a transposed upstream gradient
        (y64 * proj).sum().backward()
    got = [x.grad, W.grad] + ([b.grad] if bias else [])
    for k, (ours, theirs) in enumerate(zip(got, leaves64)):
        torch.testing.assert_close(
            ours.double(), theirs.grad, atol=2e-3, rtol=1e-4, msg=lambda m, k=k: f"grad {k}: {m}"
        )


@needs_onednn
@pytest.mark.parametrize("rows", [1, 37, 128, 300, L.EXACT_FROM + 5])
@pytest.mark.parametrize("how", ["contiguous", "transposed", "sliced"])
def test_linear_forced_onto_onednn_matches_float64(rows, how):
    with ops.fused_kernels():
        assert L.uses_onednn(torch.empty(rows, 70), torch.empty(90, 70))
        check_against_float64(rows, how, bias=rows % 2 == 0)


@needs_onednn
@pytest.mark.parametrize("upstream", ["random", "broadcast"])
def test_linear_default_path_takes_onednn_from_min_rows_and_matches_float64(upstream):
    rows = L.MIN_ROWS + 45  # not a multiple of the bucket: padded
    assert L.uses_onednn(torch.empty(rows, 70), torch.empty(90, 70))
    assert not L.uses_onednn(torch.empty(L.MIN_ROWS - 1, 70), torch.empty(90, 70))
    check_against_float64(rows, "contiguous", bias=True, upstream=upstream)
    check_against_float64(rows, "sliced", bias=False, upstream=upstream)


def test_linear_in_float64_and_the_reference_are_f_linear():
    g = torch.Generator().manual_seed(0)
    x, W, b = (torch.randn(s, generator=g, dtype=torch.float64) for s in ((400, 7), (5, 7), (5,)))
    assert not L.uses_onednn(x, W)
    assert torch.equal(ops.linear(x, W, b), torch.nn.functional.linear(x, W, b))
    assert torch.equal(
        ops.linear(x.float(), W.float(), impl="reference"), torch.nn.functional.linear(x.float(), W.float())
    )


def test_padding_rows_are_zero_and_the_bucket_is_whole():
    x = torch.randn(L.ROW_BUCKET + 3, 4)
    p = L.padded(x)
    assert p.shape == (2 * L.ROW_BUCKET, 4) and torch.equal(p[: x.shape[0]], x) and not p[x.shape[0] :].any()
    whole = torch.randn(L.ROW_BUCKET, 4)
    assert L.padded(whole) is whole
    large = torch.randn(L.EXACT_FROM + 3, 2)  # large: its own rows, no padded copy
    assert L.padded(large) is large


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_opcheck_linear(dtype):
    g = torch.Generator().manual_seed(1)
    x, W, b = (torch.randn(s, generator=g, dtype=dtype) for s in ((37, 6), (5, 6), (5,)))
    with ops.fused_kernels():
        torch.library.opcheck(torch.ops.gatedgcn.linear, (x.requires_grad_(), W.requires_grad_(), b.requires_grad_()))
        torch.library.opcheck(torch.ops.gatedgcn.linear, (x, W, None))
        g_y = torch.randn(37, 5, generator=g, dtype=dtype)
        for need_x, need_w in ((True, True), (True, False), (False, True), (False, False)):
            torch.library.opcheck(torch.ops.gatedgcn.linear_backward, (g_y, x.detach(), W.detach(), need_x, need_w))


@pytest.mark.parametrize("training, how", [(True, "contiguous"), (False, "contiguous"), (True, "sliced")])
def test_gated_layer_default_path_at_a_size_where_it_takes_every_fast_kernel_matches_float64(training, how):
    n, m, d = 400, 8192, 16  # E·d = 2^17: the compiled sweeps (with ê kept); 400 rows: oneDNN's product
    ei = random_graph(n, m, seed=5)
    layer = GatedGCNLayer(d).train(training)
    randomise_bn(layer)
    ref = copy.deepcopy(layer).double()
    g = torch.Generator().manual_seed(2)
    x64, e64 = torch.randn(n, d, generator=g, dtype=torch.float64), torch.randn(m, d, generator=g, dtype=torch.float64)
    x, e = layout(x64.float(), how).requires_grad_(), layout(e64.float(), how).requires_grad_()
    x64.requires_grad_(), e64.requires_grad_()
    if _native.library() is not None:
        assert _select.compiled(m * d, x) and _select.keeps_e_hat(m * d)
    assert L.uses_onednn(x, layer.A.weight) == L.onednn_available()
    h, e_new = layer(x, ei, e)
    h64, e_new64 = dense.gated_gcn(x64, ei, e64, ref, training_bn=training)
    torch.testing.assert_close(h.double(), h64.detach(), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(e_new.double(), e_new64.detach(), atol=1e-4, rtol=1e-4)
    proj_h, proj_e = (
        torch.randn(n, d, generator=g, dtype=torch.float64),
        torch.randn(m, d, generator=g, dtype=torch.float64),
    )
    ((h * proj_h.float()).sum() + (e_new * proj_e.float()).sum()).backward()
    ((h64 * proj_h).sum() + (e_new64 * proj_e).sum()).backward()
    torch.testing.assert_close(x.grad.double(), x64.grad, atol=2e-3, rtol=1e-3)
    torch.testing.assert_close(e.grad.double(), e64.grad, atol=2e-3, rtol=1e-3)
    for (name, p), p64 in zip(layer.named_parameters(), ref.parameters()):
        torch.testing.assert_close(
            p.grad.double(), p64.grad, atol=5e-3, rtol=1e-3, msg=lambda msg, k=name: f"{k}: {msg}"
        )


@needs_onednn
@pytest.mark.parametrize(
    "backend",
    [
        "aot_eager",
        pytest.param(
            "inductor", marks=pytest.mark.skipif(_native._compiler() is None, reason="inductor needs a C++ compiler")
        ),
    ],
)
def test_a_compiled_gated_layer_on_onednn_products_trains_as_the_eager_one(backend):
    """torch.compile traces the op's autograd: its backward must itself be an op (gatedgcn::linear_backward), not
    oneDNN's kernel on fake tensors (which inductor cannot lower)."""
    n, m, d = L.MIN_ROWS + 44, 900, 8
    ei = random_graph(n, m, seed=6)
    layer = GatedGCNLayer(d)
    g = torch.Generator().manual_seed(3)
    x, e = torch.randn(n, d, generator=g), torch.randn(m, d, generator=g)
    assert L.uses_onednn(x, layer.A.weight)
    grads = []
    for f in (layer, torch.compile(layer, backend=backend)):
        layer.zero_grad()
        h, e_new = f(x, ei, e)
        (h.square().sum() + e_new.sum()).backward()
        grads.append((h.detach(), [p.grad.clone() for p in layer.parameters()]))
    torch.testing.assert_close(grads[1][0], grads[0][0], atol=1e-5, rtol=1e-5)
    for a, b in zip(grads[1][1], grads[0][1]):
        torch.testing.assert_close(a, b, atol=1e-3, rtol=1e-4)
