"""The family's linear maps ``y = x Wᵀ + b`` (the gated layer's ``A x, B x, D x, E x`` and ``C e``), as one op
``gatedgcn::linear`` that runs on the faster of the two CPU matrix-product libraries torch carries.

torch multiplies float32 matrices on the CPU with MKL, and MKL takes its AVX2 code on AMD processors; oneDNN,
which torch also carries (``torch.ops.mkldnn._linear_pointwise``, the kernel ``torch.compile`` fuses linear maps
into), takes AVX-512 where the CPU has it.  On this project's machine (AMD EPYC, family 26, AVX-512; 2026-12-02,
quiet, 1 thread) a ``[2216, 70] × [70, 70]ᵀ`` map took 133 µs with oneDNN against 295 µs with ``torch.addmm``
(104 against 214 µs at 2 threads), ``[4604, 70]`` 270 against 607 µs, with the same rounding error against float64
(1.2e-5 for both); below ~200 rows oneDNN is the slower (15 against 6 µs at 20 rows).

oneDNN builds its kernel for each shape on first sight (~0.5 ms; it keeps the last 1024): below
:data:`EXACT_FROM` rows the rows are padded to a multiple of :data:`ROW_BUCKET` (zero rows, dropped from the
result), so that batches of varying size share a few kernels.  The op takes oneDNN for float32 CPU inputs from
:data:`MIN_ROWS` rows where torch has it (checked once against ``F.linear``), and below :data:`EXACT_FROM` rows the
weight gradient ``gᵀ x`` as oneDNN's ``(xᵀ g)ᵀ`` (one product for all the rows of a stacked weight: 612 against
1360 µs for ``[2304, 70]ᵀ × [2304, 280]``; over longer sums torch's ``mm`` is the faster, 3.3 against 5.7 ms at
18,750 rows).  Everything else runs torch's own matmuls, and so do the gated op's chunked products, which torch
writes straight into the rows of ê and ∂e (oneDNN's result would need a copy there).
:func:`~gatedgcn.ops.fused_kernels` makes the op take oneDNN at any size (the tests hold it against the dense
equations there); ``impl="reference"`` is ``F.linear``.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import Tensor

from gatedgcn.ops import _select

__all__ = [
    "EXACT_FROM",
    "MIN_ROWS",
    "ROW_BUCKET",
    "bucket",
    "gram",
    "linear",
    "onednn_available",
    "padded",
    "product",
    "product_padded",
]

MIN_ROWS = 256  # rows of x from which oneDNN runs (module docstring)
ROW_BUCKET = 128  # x's rows padded to a multiple of this for oneDNN: few kernels for many batch sizes
# From this many rows the product runs on x's own rows: a new kernel (~0.5 ms) is small beside the product, and a
# padded copy of a large x (and of its gradient, in backward) would add to the peak of memory.
EXACT_FROM = 1 << 13


@functools.cache
def onednn_available() -> bool:
    """Whether torch carries oneDNN's linear kernel and it computes ``F.linear`` (tried once on a small example)."""
    if not torch.backends.mkldnn.is_available() or not hasattr(torch.ops.mkldnn, "_linear_pointwise"):
        return False
    x, w, b = torch.linspace(-1, 1, 12).reshape(4, 3), torch.linspace(-2, 1, 6).reshape(2, 3), torch.tensor([0.5, -1])
    try:
        got = torch.ops.mkldnn._linear_pointwise(x, w, b, "none", [], "")
    except RuntimeError:
        return False
    return bool(torch.allclose(got, F.linear(x, w, b), atol=1e-6))


def _available() -> bool:
    return onednn_available()


# torch.compile takes the answer as a constant (as _select._library_available).
_available._dynamo_marked_constant = True  # type: ignore[attr-defined]


def uses_onednn(x: Tensor, w: Tensor) -> bool:
    """Whether ``x Wᵀ`` runs on oneDNN: float32 on the CPU, 2-D, from :data:`MIN_ROWS` rows (any with
    :func:`~gatedgcn.ops.fused_kernels`), where torch has it."""
    if x.device.type != "cpu" or x.dtype != torch.float32 or w.dtype != torch.float32 or x.dim() != 2:
        return False
    rows = x.shape[0]
    return rows > 0 and (rows >= MIN_ROWS or _select.forced_any()) and _available()


def bucket(M: int) -> int:
    """``M`` rows rounded up to a multiple of :data:`ROW_BUCKET`; from :data:`EXACT_FROM` rows ``M`` itself."""
    return M if M >= EXACT_FROM else -(-M // ROW_BUCKET) * ROW_BUCKET


def padded(x: Tensor) -> Tensor:
    """``x`` ``[M, K]`` with zero rows after it up to a multiple of :data:`ROW_BUCKET`, contiguous (``x`` itself
    where it is both already)."""
    M = x.shape[0]
    rows = bucket(M)
    if rows == M and x.is_contiguous():
        return x
    out = x.new_empty((rows, x.shape[1]))  # [rows, K]
    out[:M].copy_(x)
    out[M:].zero_()
    return out


def _onednn(xp: Tensor, w: Tensor, b: Tensor | None, M: int) -> Tensor:
    """oneDNN's ``xp wᵀ [+ b]`` for the padded ``xp`` (any strides), its first ``M`` rows."""
    y = torch.ops.mkldnn._linear_pointwise(xp, w, b, "none", [], "")  # [rows, N]
    return y if y.shape[0] == M else y[:M]


def product(x: Tensor, w: Tensor, b: Tensor | None = None) -> Tensor:
    """``x wᵀ [+ b]``: x ``[M, K]``, w ``[N, K]``, b ``[N]`` -> ``[M, N]``, on oneDNN where :func:`uses_onednn`
    (rows padded to :data:`ROW_BUCKET`), else ``F.linear``."""
    if not uses_onednn(x, w):
        return F.linear(x, w, b)
    return _onednn(padded(x), w.contiguous(), b, x.shape[0])


def product_padded(xp: Tensor, M: int, w: Tensor) -> Tensor:
    """:func:`product` of ``x = xp[:M]`` (no bias) for a caller's buffer ``xp`` ``[≥ bucket(M), K]`` (contiguous)
    whose rows ``M .. bucket(M)`` are zero: no copy to pad it."""
    if not uses_onednn(xp[:M], w):
        return F.linear(xp[:M], w)
    return _onednn(xp[: bucket(M)], w.contiguous(), None, M)


def gram(x: Tensor, gp: Tensor, M: int) -> Tensor:
    """``gᵀ x`` ``[N, K]`` for x ``[M, K]`` and ``g = gp[:M]`` ``[M, N]`` (``gp`` as in :func:`product_padded`): on
    oneDNN as ``(xᵀ g)ᵀ``, summing over the padded rows (zero in both), else torch's ``mm``."""
    if not uses_onednn(x, gp[:M]) or M >= EXACT_FROM:  # (long sums: torch's mm is the faster, 3.3 against 5.7 ms)
        return gp[:M].t().mm(x)
    return _onednn(padded(x).t(), gp[: bucket(M)].t(), None, x.shape[1]).t()


@torch.library.custom_op("gatedgcn::linear", mutates_args=())
def _linear(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """-> ``x Wᵀ + b`` ``[M, N]``."""
    return product(x, weight, bias)


@_linear.register_fake
def _(x, weight, bias):
    return x.new_empty((x.shape[0], weight.shape[0]))


@torch.library.custom_op("gatedgcn::linear_backward", mutates_args=())
def _linear_backward(g: Tensor, x: Tensor, weight: Tensor, need_x: bool, need_w: bool) -> tuple[Tensor, Tensor]:
    """-> ∂x = g W ``[M, K]`` and ∂W = gᵀ x ``[N, K]`` (each ``[0]`` where not needed)."""
    if not uses_onednn(g, weight):
        return (g.mm(weight) if need_x else g.new_empty(0)), (g.t().mm(x) if need_w else g.new_empty(0))
    M, gp = x.shape[0], padded(g)  # gp: [rows, N], zero rows past M
    dx = product_padded(gp, M, weight.t()) if need_x else g.new_empty(0)  # g W: [M, K]
    dw = gram(x, gp, M).contiguous() if need_w else g.new_empty(0)  # gᵀ x: [N, K], one product for every row of W
    return dx, dw


@_linear_backward.register_fake
def _(g, x, weight, need_x, need_w):
    return x.new_empty(x.shape if need_x else (0,)), weight.new_empty(weight.shape if need_w else (0,))


def _setup(ctx, inputs, output):
    x, weight, bias = inputs
    ctx.has_bias = bias is not None
    ctx.save_for_backward(x, weight)


def _backward(ctx, g):
    x, weight = ctx.saved_tensors
    need_x, need_w, need_b = ctx.needs_input_grad
    dx, dw = torch.ops.gatedgcn.linear_backward(g, x, weight, need_x, need_w)
    db = g.sum(0) if need_b and ctx.has_bias else None  # [N]
    return (dx if need_x else None), (dw if need_w else None), db


_linear.register_autograd(_backward, setup_context=_setup)


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None, *, impl: str = "fast") -> Tensor:
    """``y = x Wᵀ + b`` (module docstring): x ``[M, K]``, weight ``[N, K]``, bias ``[N]`` or None -> ``[M, N]``.

    ``impl="reference"``, and inputs oneDNN does not take (:func:`uses_onednn`), run ``F.linear``."""
    if impl == "reference" or not uses_onednn(x, weight):
        return F.linear(x, weight, bias)
    return torch.ops.gatedgcn.linear(x, weight, bias)
