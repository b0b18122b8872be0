"""What the fused kernels (:mod:`gatedgcn.ops._fused`, :mod:`gatedgcn.ops._gated_native`) share: row chunks and
batch norm's algebra.

Batch norm with statistics μ, var is the affine map ``z w + b``, ``w = γ ι``, ``b = β − μ w``,
``ι = 1/√(var + ε)``.  Its backward, with ``g_r`` the output gradient after the ReLU mask and ``R`` rows:
``∂β = Σ g_r``, ``∂γ = ι (Σ g_r ⊙ z − μ ∂β)`` and, with batch statistics,
``∂z = w g_r − c1 − c2 ⊙ z`` where ``c2 = w ι ∂γ / R``, ``c1 = w ∂β / R − c2 μ`` (without: ``c1 = c2 = 0``).

The gated layer's ``ê`` is needed in backward only up to the chunk whose ``∂e`` is written, so the
first backward writes ``∂e`` over it (:func:`keep_e_hat`, :func:`e_hat_for_backward`): one ``[E, d]``
tensor less at the peak.
"""

from __future__ import annotations

from typing import Callable, Iterator

import torch
from torch import Tensor

from gatedgcn.ops import _memory as memory

__all__ = ["row_chunks", "affine", "backward_coefficients", "keep_e_hat", "e_hat_for_backward", "recompute_e_hat"]


def row_chunks(rows: int, step: int) -> Iterator[slice]:
    """Consecutive row ranges of ``step`` rows (the last may be shorter)."""
    for lo in range(0, rows, step):
        yield slice(lo, min(lo + step, rows))


def affine(gamma: Tensor, beta: Tensor, mean: Tensor, var: Tensor, eps: float) -> tuple[Tensor, Tensor, Tensor]:
    """``ι, w, b``: ``[d]`` each."""
    invstd = (var + eps).rsqrt()
    w = invstd * gamma
    return invstd, w.contiguous(), (beta - mean * w).contiguous()


def backward_coefficients(
    invstd: Tensor, w: Tensor, mean: Tensor, d_beta: Tensor, gz: Tensor, rows: int, batch_stats: bool
) -> tuple[Tensor, Tensor, Tensor]:
    """``∂γ, c1, c2`` from ``∂β = Σ g_r`` and ``gz = Σ g_r ⊙ z``: ``[d]`` each."""
    d_gamma = invstd * (gz - mean * d_beta)
    if not batch_stats:
        return d_gamma, w.new_zeros(w.shape), w.new_zeros(w.shape)
    c2 = (w * invstd * d_gamma / rows).contiguous()
    return d_gamma, (w * d_beta / rows - c2 * mean).contiguous(), c2


def keep_e_hat(ctx, e_hat: Tensor, returned: bool) -> Tensor:
    """Keep ``ê`` for backward; the tensor to output in its place.

    Returned to the caller, ``ê`` is saved as usual (``save_for_backward``) and never written over, and is
    its own output.  Otherwise nobody else can see it: it stays on ``ctx`` (no reference cycle, as it is
    not an output), the output is an empty tensor, and the first backward may write ``∂e`` over it.
    """
    ctx.e_hat = None if returned else e_hat
    return e_hat if returned else e_hat.new_empty(0)


def e_hat_for_backward(ctx, saved: Tensor | None, recompute: Callable[[], Tensor]) -> tuple[Tensor, bool]:
    """``ê`` and whether backward may write ``∂e`` over it (``saved``: the returned ``ê``, else None).

    Only the first backward of a graph gets the forward's ``ê``; a later one (``retain_graph=True``)
    gets it from ``recompute()``.
    """
    if saved is not None:
        return saved, False
    e_hat = ctx.e_hat if ctx.e_hat is not None else recompute()
    ctx.e_hat = None
    return e_hat, True


def recompute_e_hat(
    e: Tensor, C_w: Tensor, C_b: Tensor, DBx: Tensor, Ex: Tensor, j: Tensor, i: Tensor, step: int
) -> Tensor:
    """``ê = e Cᵀ + c + Dx[j] + Ex[i]`` (``DBx = [Dx | Bx]``) again, ``step`` rows at a time: ``[E, d]``."""
    E, d = e.shape
    e_hat = memory.empty((E, d), e)
    for r in row_chunks(E, step):
        torch.addmm(C_b, e[r], C_w.t(), out=e_hat[r]).add_(DBx[j[r], :d]).add_(Ex[i[r]])
    return e_hat
