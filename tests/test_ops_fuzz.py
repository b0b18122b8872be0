"""Differential fuzzing of the ops (issue 17): the default path against impl="reference", values and gradients.

Hypothesis draws graphs (duplicate edges, self-loops, isolated nodes, empty graphs), int32 / int64 ids,
float32 / float64, widths, the kernels (plain, PyTorch chunked, compiled), chunk sizes, thresholds set just
around the drawn size (so that both sides of every threshold run), and strides: non-contiguous x and e, and
upstream gradients that are expanded, transposed or sliced.  Bounded in examples and time for CI.
"""

from __future__ import annotations

import contextlib
import copy
from unittest import mock

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gatedgcn import ops
from gatedgcn.nn import GatedGCNLayer, GCNLayer, GraphAttention
from gatedgcn.ops import _native, _select

LAYOUTS = ("contiguous", "transposed", "sliced")
GRADIENTS = ("contiguous", "expanded", "transposed", "sliced")
TOLERANCE = {torch.float64: (1e-9, 1e-7), torch.float32: (2e-3, 1e-3)}  # atol, rtol
FUZZ = settings(
    max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow], database=None
)


def laid_out(values: torch.Tensor, layout: str) -> torch.Tensor:
    """The same values in another memory layout (a leaf)."""
    if layout == "transposed":
        t = values.t().contiguous().t()
    elif layout == "sliced":
        t = values.new_zeros(values.shape[0], 2 * values.shape[1] + 1)[:, 1::2]
        t.copy_(values)
    else:
        t = values.clone()
    return t.requires_grad_()


def upstream(shape: tuple[int, int], kind: str, dtype: torch.dtype, g: torch.Generator) -> torch.Tensor:
    rows, cols = shape
    if kind == "expanded":
        return torch.randn(rows, 1, generator=g, dtype=torch.float64).to(dtype).expand(rows, cols)
    if kind == "transposed":
        return torch.randn(cols, rows, generator=g, dtype=torch.float64).to(dtype).t()
    if kind == "sliced":
        return torch.randn(rows, 2 * cols, generator=g, dtype=torch.float64).to(dtype)[:, ::2]
    return torch.randn(rows, cols, generator=g, dtype=torch.float64).to(dtype)


@st.composite
def cases(draw):
    n = draw(st.integers(0, 24))
    m = 0 if n == 0 else draw(st.integers(0, 90))
    isolated = draw(st.integers(0, min(3, n)))  # the last nodes get no edge
    senders = draw(st.lists(st.integers(0, max(n - isolated - 1, 0)), min_size=m, max_size=m))
    receivers = draw(st.lists(st.integers(0, max(n - isolated - 1, 0)), min_size=m, max_size=m))
    return {
        "layer": draw(st.sampled_from(["gated_gcn", "gated_gcn_plain", "gcn", "graph_attention"])),
        "n": n,
        "edges": (senders, receivers),
        "ids": draw(st.sampled_from([torch.int64, torch.int32])),
        "dtype": draw(st.sampled_from([torch.float64, torch.float32])),
        "d": draw(st.integers(1, 7)),
        "heads": draw(st.integers(1, 3)),
        "layout": draw(st.sampled_from(LAYOUTS)),
        "gradient": draw(st.sampled_from(GRADIENTS)),
        "kernels": draw(st.sampled_from(["thresholds", "torch", "compiled"])),
        "chunk_rows": draw(st.sampled_from([1, 3, 16, None])),
        "threshold_shift": draw(st.integers(-2, 2)),  # the thresholds, in elements, around the drawn size
        "training": draw(st.booleans()),
        "seed": draw(st.integers(0, 2**16)),
    }


def build(case):
    d, dtype = case["d"], case["dtype"]
    if case["layer"] == "gated_gcn":
        layer = GatedGCNLayer(d)
    elif case["layer"] == "gated_gcn_plain":
        layer = GatedGCNLayer(d, batch_norm=False, residual=False, eps=0.0 if case["seed"] % 2 else 1e-6)
    elif case["layer"] == "gcn":
        layer = GCNLayer(d, d + 1, norm="symmetric" if case["seed"] % 2 else "mean")
    else:
        layer = GraphAttention(d, heads=case["heads"])
    return layer.to(dtype).train(case["training"])


def kernel_choice(case, elements: int):
    """The kernels of the case: forced on (PyTorch or compiled), or the thresholds set around ``elements``."""
    if case["kernels"] == "thresholds":
        around = max(0, elements + case["threshold_shift"])
        return mock.patch.dict(_select.MIN_ELEMENTS, dict.fromkeys(_select.MIN_ELEMENTS, around))
    compiled = case["kernels"] == "compiled" and _native.library() is not None
    return ops.fused_kernels(chunk_rows=case["chunk_rows"], compiled=compiled)


def run(layer, case, x, ei, e):
    if case["layer"].startswith("gated"):
        return layer(x, ei, e)
    return (layer(x, ei),)


@FUZZ
@given(case=cases())
def test_default_path_equals_reference(case):
    torch.manual_seed(case["seed"])
    g = torch.Generator().manual_seed(case["seed"])
    n, d, dtype = case["n"], case["d"], case["dtype"]
    ei = torch.tensor(case["edges"], dtype=case["ids"]).reshape(2, -1)
    m = ei.shape[1]
    fast = build(case)
    ref = copy.deepcopy(fast)
    for module in ref.modules():
        if hasattr(module, "impl"):
            module.impl = "reference"
    x = laid_out(torch.randn(n, d, generator=g, dtype=torch.float64).to(dtype), case["layout"])
    e = laid_out(torch.randn(m, d, generator=g, dtype=torch.float64).to(dtype), case["layout"])
    with contextlib.ExitStack() as stack:
        stack.enter_context(kernel_choice(case, m * d))
        outs_fast = run(fast, case, x, ei, e)
    outs_ref = run(ref, case, x, ei, e)
    atol, rtol = TOLERANCE[dtype]
    for a, b in zip(outs_fast, outs_ref):
        torch.testing.assert_close(a, b, atol=atol, rtol=rtol)
    grads_out = [upstream(tuple(o.shape), case["gradient"], dtype, g) for o in outs_fast]
    wrt_fast = [x, e, *fast.parameters()]
    wrt_ref = [x, e, *ref.parameters()]
    got = torch.autograd.grad(outs_fast, wrt_fast, grads_out, allow_unused=True)
    want = torch.autograd.grad(outs_ref, wrt_ref, grads_out, allow_unused=True)
    for k, (a, b) in enumerate(zip(got, want)):
        a = torch.zeros_like(wrt_fast[k]) if a is None else a
        b = torch.zeros_like(wrt_ref[k]) if b is None else b
        torch.testing.assert_close(a, b, atol=atol * 10, rtol=rtol * 10, msg=lambda s, k=k: f"gradient {k}: {s}")
    for a, b in zip(fast.buffers(), ref.buffers()):  # running statistics updated alike
        torch.testing.assert_close(a, b, atol=atol, rtol=rtol)
