"""What the fused kernels (:mod:`gatedgcn.kernels`, :mod:`gatedgcn.gated_native`) share: row chunks and
batch norm's algebra.

Batch norm with statistics μ, var is the affine map ``z w + b``, ``w = γ ι``, ``b = β − μ w``,
``ι = 1/√(var + ε)``.  Its backward, with ``g_r`` the output gradient after the ReLU mask and ``R`` rows:
``∂β = Σ g_r``, ``∂γ = ι (Σ g_r ⊙ z − μ ∂β)`` and, with batch statistics,
``∂z = w g_r − c1 − c2 ⊙ z`` where ``c2 = w ι ∂γ / R``, ``c1 = w ∂β / R − c2 μ`` (without: ``c1 = c2 = 0``).
"""

from __future__ import annotations

from typing import Iterator

from torch import Tensor

__all__ = ["row_chunks", "affine", "backward_coefficients"]


def row_chunks(rows: int, step: int) -> Iterator[slice]:
    """Consecutive row ranges of ``step`` rows (the last may be shorter)."""
    for lo in range(0, rows, step):
        yield slice(lo, min(lo + step, rows))


def affine(gamma: Tensor, beta: Tensor, mean: Tensor, var: Tensor, eps: float) -> tuple[Tensor, Tensor, Tensor]:
    """``ι, w, b``: ``[d]`` each."""
    invstd = (var + eps).rsqrt()
    w = invstd * gamma
    return invstd, w.contiguous(), (beta - mean * w).contiguous()


def backward_coefficients(invstd: Tensor, w: Tensor, mean: Tensor, d_beta: Tensor, gz: Tensor, rows: int,
                          batch_stats: bool) -> tuple[Tensor, Tensor, Tensor]:
    """``∂γ, c1, c2`` from ``∂β = Σ g_r`` and ``gz = Σ g_r ⊙ z``: ``[d]`` each."""
    d_gamma = invstd * (gz - mean * d_beta)
    if not batch_stats:
        return d_gamma, w.new_zeros(w.shape), w.new_zeros(w.shape)
    c2 = (w * invstd * d_gamma / rows).contiguous()
    return d_gamma, (w * d_beta / rows - c2 * mean).contiguous(), c2
