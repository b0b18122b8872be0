"""The gated GCN's edge step on the CPU through the compiled kernels of ``csrc/gated_edges.cpp``.

Same equations, inputs and outputs as :class:`gatedgcn.kernels._GatedEdges` (which runs where
the library is unavailable, and on other devices), in four sweeps over the edges instead of
a dozen tensor operations per chunk:

    forward    ê = C e (one matmul), then per edge: ê += D x_j + E x_i, Σ_j σ(ê_ij), Σ_j σ(ê_ij) ⊙ B x_j
               and the column sums of z = s ⊙ ê, z² (batch statistics); then e' = [e +] ReLU(w ⊙ z + b)
    backward   Σ g_r, Σ g_r ⊙ z (BN); per edge ∂ê (gate, BN and ê paths) with ∂Ex_i and ∂C_b;
               per edge ∂Dx_j += ∂ê, ∂Bx_j += σ ⊙ g_i ι_i; then ∂e = ∂ê C [+ ∂e'], ∂C = ∂êᵀ e (matmuls)

with ``w = γ ι``, ``b = β − μ w``, ``ι = 1/√(var + ε)``, ``g_r = ∂e' ⊙ [w ⊙ z + b > 0]``.  Only
e, ê and ``[N, ·]`` tables are saved; σ is recomputed.  Threads split the receivers (or senders)
into ranges of about equal edge counts and each handles the edges of its own nodes, so no two
threads write one row and the result does not depend on scheduling.
"""

from __future__ import annotations

import ctypes

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

__all__ = ["NativeGatedEdges", "supports"]

_SUFFIX = {torch.float32: "f32", torch.float64: "f64"}
# Below this many edge elements per thread a second thread costs more than it saves.
MIN_ELEMENTS_PER_THREAD = 1 << 16


def supports(*tensors: Tensor) -> bool:
    """Whether the compiled kernels take these tensors: all on the CPU, all float32 or all float64."""
    dtype = tensors[0].dtype
    return dtype in _SUFFIX and all(t.device.type == "cpu" and t.dtype == dtype for t in tensors)


def _threads(elements: int) -> int:
    return max(1, min(torch.get_num_threads(), elements // MIN_ELEMENTS_PER_THREAD))


def _bounds(nodes: Tensor, N: int, T: int) -> Tensor:
    """``[T + 1]`` node boundaries splitting the edges, grouped by their node in ``nodes``, into T near-equal parts."""
    if T == 1:
        return torch.tensor([0, N], dtype=torch.int64)
    E = nodes.shape[0]
    cum = torch.bincount(nodes, minlength=N).cumsum(0)  # edges of nodes 0..n: [N]
    inner = torch.searchsorted(cum, torch.arange(1, T) * E // T) + 1  # [T - 1]
    return torch.cat([torch.zeros(1, dtype=torch.int64), inner.clamp_(max=N), torch.full((1,), N, dtype=torch.int64)])


def _p(t: Tensor | None) -> int | None:
    """The address of ``t``'s data: the caller must hold ``t`` until the kernel has returned."""
    return None if t is None else t.data_ptr()


def _fn(lib: ctypes.CDLL, name: str, dtype: torch.dtype):
    return getattr(lib, f"{name}_{_SUFFIX[dtype]}")


def _affine(gamma: Tensor, beta: Tensor, mean: Tensor, var: Tensor, eps: float) -> tuple[Tensor, Tensor, Tensor]:
    """``ι, w = γ ι, b = β − μ w``: ``[d]`` each."""
    invstd = (var + eps).rsqrt()
    w = invstd * gamma
    return invstd, w.contiguous(), (beta - mean * w).contiguous()


class NativeGatedEdges(torch.autograd.Function):
    """See the module docstring; arguments as :class:`gatedgcn.kernels._GatedEdges` plus the loaded library first."""

    @staticmethod
    def forward(ctx, lib, e, C_w, C_b, DBx, Ex, j, i, eps, scale, gamma, beta, mean, var, batch_stats, bn_eps, residual):
        ctx.set_materialize_grads(False)
        E, d = e.shape
        N = Ex.shape[0]
        T = _threads(E * d)
        scale = None if scale is None else scale.to(e.dtype).contiguous()  # [E]
        receivers = _bounds(i, N, T)  # [T + 1]
        e_hat = torch.addmm(C_b, e, C_w.t())  # C e, then ê in place: [E, d]
        total, numer = Ex.new_zeros((N, d)), Ex.new_zeros((N, d))  # Σ_j σ_ij, Σ_j σ_ij ⊙ Bx_j: [N, d]
        moments = torch.empty((T, 2, d), dtype=torch.float64)  # per thread [Σ z | Σ z²]
        _fn(lib, "gated_forward", e.dtype)(
            E, d, _p(e_hat), _p(DBx), _p(Ex), _p(j), _p(i), _p(scale), _p(receivers), T, _p(total), _p(numer), _p(moments))
        inv = total.add_(eps).reciprocal_()  # ι: [N, d]
        inv.masked_fill_(inv.isinf(), 0.0)  # a receiver without senders (with ε = 0) gets m = 0
        m = numer.mul_(inv)  # [N, d]
        if batch_stats:
            s = moments.sum(0)  # [2, d]
            mean_d = s[0] / E
            mean, var = mean_d.to(e.dtype), (s[1] / E - mean_d * mean_d).clamp_(min=0).to(e.dtype)  # [d]
        _, w, b = _affine(gamma, beta, mean, var, bn_eps)
        e_new = torch.empty_like(e_hat)  # [E, d]
        _fn(lib, "gated_norm", e.dtype)(E, d, _p(e_hat), _p(scale), _p(w), _p(b), _p(e if residual else None), _p(e_new), T)
        ctx.lib, ctx.flags = lib, (batch_stats, bn_eps, residual)
        ctx.save_for_backward(e, e_hat, C_w, DBx, j, i, inv, m, scale, gamma, beta, mean, var, receivers)
        ctx.mark_non_differentiable(mean, var)
        return e_new, m, e_hat, mean, var

    @staticmethod
    @once_differentiable
    def backward(ctx, g_e_new, g_m, g_e_hat, _g_mean, _g_var):
        e, e_hat, C_w, DBx, j, i, inv, m, scale, gamma, beta, mean, var, receivers = ctx.saved_tensors
        batch_stats, bn_eps, residual = ctx.flags
        lib, dtype = ctx.lib, e.dtype
        E, d = e_hat.shape
        N = DBx.shape[0]
        T = receivers.shape[0] - 1
        invstd, w, b = _affine(gamma, beta, mean, var, bn_eps)
        c1 = c2 = torch.zeros_like(w)  # [d]
        d_gamma = d_beta = None
        if g_e_new is not None:
            g_e_new = g_e_new.contiguous()
            sums = torch.empty((T, 2, d), dtype=torch.float64)  # per thread [Σ g_r | Σ g_r ⊙ z]
            _fn(lib, "gated_norm_sums", dtype)(E, d, _p(e_hat), _p(scale), _p(w), _p(b), _p(g_e_new), T, _p(sums))
            s = sums.sum(0).to(dtype)  # [2, d]
            d_beta = s[0]
            d_gamma = invstd * (s[1] - mean * d_beta)  # [d]
            if batch_stats:
                c2 = (w * invstd * d_gamma / E).contiguous()
                c1 = (w * d_beta / E - c2 * mean).contiguous()
        P = torch.zeros_like(inv) if g_m is None else g_m * inv  # g ι: [N, d]
        PQ = torch.cat([P, P * m], dim=1)  # [g ι | g ι ⊙ m]: [N, 2d]
        g_e_hat = None if g_e_hat is None else g_e_hat.contiguous()
        de_hat = torch.empty_like(e_hat)  # ∂ê: [E, d]
        dEx = DBx.new_zeros((N, d))
        dC_b = torch.empty((T, d), dtype=torch.float64)
        _fn(lib, "gated_backward_receivers", dtype)(
            E, d, _p(e_hat), _p(DBx), _p(PQ), _p(j), _p(i), _p(scale), _p(g_e_new), _p(w), _p(b), _p(c1), _p(c2),
            _p(g_e_hat), _p(receivers), T, _p(de_hat), _p(dEx), _p(dC_b))
        dDBx = DBx.new_zeros((N, 2 * d))  # [∂Dx | ∂Bx]
        senders = _bounds(j, N, T)  # [T + 1] (held: the kernel reads it)
        _fn(lib, "gated_backward_senders", dtype)(
            E, d, _p(e_hat), _p(de_hat), _p(PQ), _p(j), _p(i), _p(senders), T, _p(dDBx))
        de = None
        if ctx.needs_input_grad[1]:
            de = torch.addmm(g_e_new, de_hat, C_w) if residual and g_e_new is not None else de_hat.mm(C_w)  # [E, d]
        dC_w = de_hat.t().mm(e)  # [d, d]
        return (None, de, dC_w, dC_b.sum(0).to(dtype), dDBx, dEx, None, None, None,
                None, d_gamma, d_beta, None, None, None, None, None)
