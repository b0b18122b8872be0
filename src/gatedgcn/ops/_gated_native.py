"""The gated GCN's edge step on the CPU through the compiled kernels of ``csrc/gated_edges.cpp``.

Same equations, inputs and outputs as :class:`gatedgcn.ops._fused._GatedEdges` (which runs where
the library is unavailable, and on other devices), in four sweeps over the edges instead of
a dozen tensor operations per chunk:

    forward    chunk by chunk, ê = C e (a matmul), then per edge: ê += D x_j + E x_i, Σ_j σ(ê_ij), Σ_j σ(ê_ij) ⊙ B x_j
               and the column sums of z = s ⊙ ê, z² (batch statistics); then e' = [e +] ReLU(w ⊙ z + b)
    backward   Σ g_r, Σ g_r ⊙ z (BN); then chunk by chunk: per edge ∂ê (gate, BN and ê paths) and
               σ ⊙ g_i ι_i, with ∂Ex_i and ∂C_b; per edge ∂Dx_j += ∂ê, ∂Bx_j += σ ⊙ g_i ι_i;
               ∂e = ∂ê C [+ ∂e'], ∂C += ∂êᵀ e (matmuls)

with ``w = γ ι``, ``b = β − μ w``, ``ι = 1/√(var + ε)``, ``g_r = ∂e' ⊙ [w ⊙ z + b > 0]``.  Only
e, ê and ``[N, ·]`` tables are saved; σ is recomputed.  The sweeps run on torch's OpenMP threads;
each thread owns blocks of node ids and handles the edges of its own receivers (or senders), so no
two threads write one row and the result does not depend on scheduling.
"""

from __future__ import annotations

import ctypes

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from gatedgcn.ops import _memory as memory
from gatedgcn.errors import GraphError
from gatedgcn.ops._common import (
    affine,
    backward_coefficients,
    e_hat_for_backward,
    keep_e_hat,
    recompute_e_hat,
    row_chunks,
)

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


def _check_ids(j: Tensor, i: Tensor, N: int) -> None:
    """The compiled kernels index node tables with these ids unchecked: refuse any outside ``[0, N)`` first."""
    for name, ids in (("senders (edge_index[0])", j), ("receivers (edge_index[1])", i)):
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= N):
            raise GraphError(
                f"gated_edges: {name} must be node ids in [0, {N}), got ids from {int(ids.min())} to {int(ids.max())}"
            )


def _p(t: Tensor | None, start: int = 0, stride: int | None = None) -> int | None:
    """The address of row ``start`` of ``t`` (rows ``stride`` elements apart; default: ``t``'s own).

    The caller must hold ``t`` until the kernel has returned.
    """
    if t is None:
        return None
    return t.data_ptr() + start * (t.stride(0) if stride is None else stride) * t.element_size()


def _rows(g: Tensor) -> tuple[Tensor, int]:
    """``g [E, d]`` as rows with unit column stride and its row stride: 0 when every row is the same (an expanded row)."""
    if g.stride(1) == 0:  # e.g. the gradient of e'.sum(): one value everywhere
        g = g[:1].contiguous()
    elif g.stride(1) != 1 or g.stride(0) not in (0, g.shape[1]):
        g = g.contiguous()
    return g, (0 if g.shape[0] == 1 else g.stride(0))


def _fn(lib: ctypes.CDLL, name: str, dtype: torch.dtype):
    return getattr(lib, f"{name}_{_SUFFIX[dtype]}")


class NativeGatedEdges(torch.autograd.Function):
    """See the module docstring; arguments as :class:`gatedgcn.ops._fused._GatedEdges`, plus the loaded library
    first and the number of edges per chunk (``step``: the matmuls and sweeps go chunk by chunk, so that a
    chunk of ê or ∂ê is still in cache for the next step) last.
    """

    @staticmethod
    def forward(
        ctx,
        lib,
        e,
        C_w,
        C_b,
        DBx,
        Ex,
        j,
        i,
        eps,
        scale,
        gamma,
        beta,
        mean,
        var,
        batch_stats,
        bn_eps,
        residual,
        return_e_hat,
        step,
    ):
        ctx.set_materialize_grads(False)
        E, d = e.shape
        N = Ex.shape[0]
        _check_ids(j, i, N)
        T = _threads(min(E, step) * d)
        scale = None if scale is None else scale.to(e.dtype).contiguous()  # [E]
        e_hat = memory.empty((E, d), e)  # [E, d]
        total, numer = memory.zeros((N, d), Ex), memory.zeros((N, d), Ex)  # Σ_j σ_ij, Σ_j σ_ij ⊙ Bx_j: [N, d]
        moments = torch.zeros((T, 2, d), dtype=torch.float64)  # per thread [Σ z | Σ z²]
        forward = _fn(lib, "gated_forward", e.dtype)
        for r in row_chunks(E, step):
            lo, hi = r.start, r.stop
            torch.addmm(C_b, e[lo:hi], C_w.t(), out=e_hat[lo:hi])  # C e, then ê in place
            forward(
                hi - lo,
                d,
                _p(e_hat, lo),
                _p(DBx),
                _p(Ex),
                _p(j, lo),
                _p(i, lo),
                _p(scale, lo),
                T,
                _p(total),
                _p(numer),
                _p(moments),
            )
        inv = total.add_(eps).reciprocal_()  # ι: [N, d]
        inv.masked_fill_(inv.isinf(), 0.0)  # a receiver without senders (with ε = 0) gets m = 0
        m = numer.mul_(inv)  # [N, d]
        if batch_stats:
            s = moments.sum(0)  # [2, d]
            mean_d = s[0] / E
            mean, var = mean_d.to(e.dtype), (s[1] / E - mean_d * mean_d).clamp_(min=0).to(e.dtype)  # [d]
        _, w, b = affine(gamma, beta, mean, var, bn_eps)
        e_new = memory.empty((E, d), e_hat)  # [E, d]
        _fn(lib, "gated_norm", e.dtype)(
            E, d, _p(e_hat), _p(scale), _p(w), _p(b), _p(e if residual else None), _p(e_new), _threads(E * d)
        )
        ctx.lib, ctx.flags, ctx.threads = lib, (batch_stats, bn_eps, residual, step), T
        e_hat_out = keep_e_hat(ctx, e_hat, return_e_hat)
        ctx.save_for_backward(
            e, e_hat if return_e_hat else None, C_w, C_b, DBx, Ex, j, i, inv, m, scale, gamma, beta, mean, var
        )
        ctx.mark_non_differentiable(mean, var)
        return e_new, m, e_hat_out, mean, var

    @staticmethod
    @once_differentiable
    def backward(ctx, g_e_new, g_m, g_e_hat, _g_mean, _g_var):
        e, saved_e_hat, C_w, C_b, DBx, Ex, j, i, inv, m, scale, gamma, beta, mean, var = ctx.saved_tensors
        batch_stats, bn_eps, residual, step = ctx.flags
        lib, dtype = ctx.lib, e.dtype
        e_hat, overwrite = e_hat_for_backward(
            ctx, saved_e_hat, lambda: recompute_e_hat(e, C_w, C_b, DBx, Ex, j, i, step)
        )
        E, d = e_hat.shape
        N = DBx.shape[0]
        T = ctx.threads
        invstd, w, b = affine(gamma, beta, mean, var, bn_eps)
        c1 = c2 = torch.zeros_like(w)  # [d]
        d_gamma = d_beta = g_rows = None
        g_stride = 0
        if g_e_new is not None:
            g_rows, g_stride = _rows(g_e_new)
            sums = torch.zeros((T, 2, d), dtype=torch.float64)  # per thread [Σ g_r | Σ g_r ⊙ z]
            _fn(lib, "gated_norm_sums", dtype)(
                E, d, _p(e_hat), _p(scale), _p(w), _p(b), _p(g_rows), g_stride, T, _p(sums)
            )
            s = sums.sum(0).to(dtype)  # [2, d]
            d_beta = s[0]
            d_gamma, c1, c2 = backward_coefficients(invstd, w, mean, d_beta, s[1], E, batch_stats)  # [d]
        P = torch.zeros_like(inv) if g_m is None else g_m * inv  # g ι: [N, d]
        PQ = torch.cat([P, P * m], dim=1, out=memory.empty((N, 2 * d), P))  # [g ι | g ι ⊙ m]: [N, 2d]
        g_e_hat = None if g_e_hat is None else g_e_hat.contiguous()
        de = None
        if ctx.needs_input_grad[1]:  # [E, d]; rows of ê are not read again once their ∂e is written
            de = e_hat if overwrite else memory.empty((E, d), e)
        dC_w = C_w.new_zeros((d, d))
        dC_b = torch.zeros((T, d), dtype=torch.float64)
        dEx = memory.zeros((N, d), DBx)
        dDBx = memory.zeros((N, 2 * d), DBx)  # [∂Dx | ∂Bx]
        de_hat, sp = (
            memory.empty((min(E, step), d), e),
            memory.empty((min(E, step), d), e),
        )  # ∂ê, σ ⊙ g_i ι_i of one chunk
        receivers_pass = _fn(lib, "gated_backward_receivers", dtype)
        senders_pass = _fn(lib, "gated_backward_senders", dtype)
        for r in row_chunks(E, step):
            lo, hi = r.start, r.stop
            dh = de_hat[: hi - lo]  # [n, d]
            receivers_pass(
                hi - lo,
                d,
                _p(e_hat, lo),
                _p(DBx),
                _p(PQ),
                _p(j, lo),
                _p(i, lo),
                _p(scale, lo),
                _p(g_rows, lo, g_stride),
                g_stride,
                _p(w),
                _p(b),
                _p(c1),
                _p(c2),
                _p(g_e_hat, lo),
                T,
                _p(dh),
                _p(sp),
                _p(dEx),
                _p(dC_b),
            )
            senders_pass(hi - lo, d, _p(dh), _p(sp), _p(j, lo), T, _p(dDBx))
            if de is not None:
                if residual and g_e_new is not None:
                    torch.addmm(g_e_new[lo:hi], dh, C_w, out=de[lo:hi])  # ∂ê C + ∂e' (the residual)
                else:
                    torch.mm(dh, C_w, out=de[lo:hi])
            dC_w.addmm_(dh.t(), e[lo:hi])
        return (
            None,
            de,
            dC_w,
            dC_b.sum(0).to(dtype),
            dDBx,
            dEx,
            None,
            None,
            None,
            None,
            d_gamma,
            d_beta,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
        )
