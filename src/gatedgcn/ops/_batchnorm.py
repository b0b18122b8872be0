"""Batch norm's algebra as the fused kernels use it, and :class:`ChunkedNorm`, ``y = r + ReLU(BN(s ⊙ t))`` chunk by chunk.

Batch norm with statistics μ, var is the affine map ``z w + b``, ``w = γ ι``, ``b = β − μ w``,
``ι = 1/√(var + ε)``.  Its backward, with ``g_r`` the output gradient after the ReLU mask and ``R`` rows:
``∂β = Σ g_r``, ``∂γ = ι (Σ g_r ⊙ z − μ ∂β)`` and, with batch statistics,
``∂z = w g_r − c1 − c2 ⊙ z`` where ``c2 = w ι ∂γ / R``, ``c1 = w ∂β / R − c2 μ`` (without: ``c1 = c2 = 0``).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from gatedgcn.ops._native import empty

__all__ = ["ChunkedNorm", "affine", "backward_coefficients", "norm_arguments", "row_chunks", "update_running"]


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


def batch_moments(z_of, rows: int, width: int, step: int, like: Tensor) -> tuple[Tensor, Tensor]:
    """Column mean and biased variance of the rows ``z_of(r)``, combined chunk by chunk (stable)."""
    if rows == 0:
        return like.new_zeros(width), like.new_ones(width)
    counts, means, m2s = [], [], []
    a = like.new_empty((min(rows, step), width))
    for r in row_chunks(rows, step):
        n = r.stop - r.start
        z = z_of(r)  # [n, d]
        mean = z.sum(0) / n  # [d]
        dev = torch.sub(z, mean, out=a[:n])  # [n, d]
        counts.append(n)
        means.append(mean)
        m2s.append(dev.mul_(dev).sum(0))
    n_c = like.new_tensor(counts).unsqueeze(1)  # [K, 1]
    means_c, m2_c = torch.stack(means), torch.stack(m2s)  # [K, d]
    mean = (n_c * means_c).sum(0) / rows  # [d]
    m2 = (m2_c + n_c * (means_c - mean) ** 2).sum(0)  # [d]
    return mean, m2 / rows


class ChunkedNorm:
    """``y = r + ReLU(z w + b)``, ``z = s ⊙ t``, chunk by chunk (``step`` rows); μ, var the batch's or given.

    Only ``t`` and ``[d]`` vectors are kept; the ReLU mask is recomputed (see the module docstring).
    """

    def __init__(self, t, scale, gamma, beta, mean, var, batch_stats, eps, step):
        R, d = t.shape
        self.t, self.scale, self.gamma, self.step = t, scale, gamma, step
        self.batch_stats = batch_stats
        self.zb = t.new_empty((min(R, step), d))
        if batch_stats:
            mean, var = batch_moments(self.z, R, d, step, t)
        self.mean, self.var = mean, var  # [d]
        self.invstd, self.w, self.b = affine(gamma, beta, mean, var, eps)  # ι, w, b: [d]

    def chunks(self) -> Iterator[slice]:
        return row_chunks(self.t.shape[0], self.step)

    def z(self, r: slice) -> Tensor:
        """``s ⊙ t`` of rows r: ``[n, d]``."""
        t = self.t[r]
        return t if self.scale is None else torch.mul(t, self.scale[r].unsqueeze(1), out=self.zb[: r.stop - r.start])

    def forward(self, res: Tensor | None) -> Tensor:
        y = empty(self.t, self.t.shape)  # [R, d]
        for r in self.chunks():
            out = torch.addcmul(self.b, self.z(r), self.w, out=y[r]).relu_()
            if res is not None:
                out.add_(res[r])
        return y

    def backward_sums(self, g: Tensor) -> tuple[Tensor, Tensor]:
        """``∂γ, ∂β`` for the output gradient ``g``; keeps what :meth:`grad` needs."""
        R, d = self.t.shape
        self.g, self.gb = g, self.t.new_empty((min(R, self.step), d))
        d_beta, gz = self.gamma.new_zeros(d), self.gamma.new_zeros(d)  # Σ g_r, Σ g_r ⊙ z
        for r in self.chunks():
            z = self.z(r)
            g_r = self._g_r(r, z)
            d_beta.add_(g_r.sum(0))
            gz.add_(g_r.mul_(z).sum(0))
        d_gamma, self.c1, self.c2 = backward_coefficients(
            self.invstd, self.w, self.mean, d_beta, gz, R, self.batch_stats
        )  # [d]
        return d_gamma, d_beta

    def _g_r(self, r: slice, z: Tensor) -> Tensor:
        pre = torch.addcmul(self.b, z, self.w, out=self.gb[: r.stop - r.start])  # [n, d]
        return pre.clamp_(min=0).sign_().mul_(self.g[r])  # g ⊙ [pre > 0]

    def grad(self, r: slice, out: Tensor) -> Tensor:
        """``∂t`` of rows r, written into ``out`` ``[n, d]`` (after :meth:`backward_sums`)."""
        z = self.z(r)
        torch.mul(self._g_r(r, z), self.w, out=out).sub_(self.c1).addcmul_(z, self.c2, value=-1)  # ∂z
        return out if self.scale is None else out.mul_(self.scale[r].unsqueeze(1))


def norm_arguments(bn: torch.nn.BatchNorm1d | None, t: Tensor) -> tuple:
    """``(γ, β, μ, var, batch_stats, ε)`` of ``bn`` for rows ``t``, as the project's BatchNorm uses them.

    Batch statistics in training (and without running statistics), running statistics in
    evaluation or for fewer than two rows; ``bn`` None is the identity (γ = 1, β = 0, μ = 0, var = 1, ε = 0).
    """
    d = t.shape[1]
    if bn is None:
        return t.new_ones(d), t.new_zeros(d), t.new_zeros(d), t.new_ones(d), False, 0.0
    gamma = bn.weight if bn.affine else t.new_ones(d)
    beta = bn.bias if bn.affine else t.new_zeros(d)
    batch_stats = (bn.training or bn.running_mean is None) and t.shape[0] >= 2
    mean = bn.running_mean if bn.running_mean is not None else t.new_zeros(d)
    var = bn.running_var if bn.running_var is not None else t.new_ones(d)
    return gamma, beta, mean, var, batch_stats, bn.eps


@torch.no_grad()
def update_running(bn: torch.nn.BatchNorm1d | None, batch_stats: bool, mean: Tensor, var: Tensor, rows: int) -> None:
    """Blend the batch's ``mean`` and biased ``var`` into ``bn``'s running statistics as ``nn.BatchNorm1d`` does."""
    if bn is None or not (batch_stats and bn.training and bn.track_running_stats):
        return
    bn.num_batches_tracked.add_(1)
    f = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
    bn.running_mean.mul_(1 - f).add_(mean, alpha=f)
    bn.running_var.mul_(1 - f).add_(var * (rows / (rows - 1)), alpha=f)
