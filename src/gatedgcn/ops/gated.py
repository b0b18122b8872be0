"""The gated GCN's edge step, one op ``gatedgcn::gated_edges``:

    ê_ij  = C e_ij + D x_j + E x_i                    (j the sender, i the receiver; without e: c + D x_j + E x_i)
    η_ij  = σ(ê_ij) / (Σ_{k→i} σ(ê_ik) + ε) = σ_ij ⊙ eta_norm_i        per channel
    m_i   = Σ_{j→i} η_ij ⊙ B x_j
    e'_ij = [e_ij +] ReLU(BN(s_ij ê_ij))            (not computed with ``edge_update=False``: e' is None)

The op picks its kernel (:mod:`gatedgcn.ops._select`): the compiled CPU sweeps
(:mod:`gatedgcn.ops._gated_native`) where they are built and pay, else the PyTorch chunked kernels
(:mod:`gatedgcn.ops._gated_torch`, any device).  Both keep only e and ``[N, ·]`` tables for backward (ê is
recomputed there, into the buffer that then receives ∂e, unless the edges are few:
:func:`~gatedgcn.ops._select.keeps_e_hat`; η is never stored) and share this file's one autograd
definition.  Below the thresholds, with
``impl="reference"``, or with a normaliser the kernels cannot compute, :func:`gated_edges` runs the plain
equations (:func:`reference`), whose gradients autograd derives.
"""

from __future__ import annotations

from typing import cast

import torch
from torch import Tensor

from gatedgcn.ops import _gated_native, _gated_torch, _select
from gatedgcn.ops._batchnorm import norm_arguments, update_running
from gatedgcn.ops.norm import fusable
from gatedgcn.ops.segment import normalise_gates, segment_sum

__all__ = ["gated_edges", "reference"]


def _kernels(elements: int, *tensors: Tensor | None):
    used = [t for t in tensors if t is not None]
    return _gated_native if _select.compiled(elements, *used) else _gated_torch


def _ids(edge_index: Tensor) -> tuple[Tensor, Tensor]:
    """Senders j and receivers i as contiguous int64 ``[E]`` each (copies where they were not)."""
    j, i = edge_index.to(torch.int64)
    return j.contiguous(), i.contiguous()


@torch.library.custom_op("gatedgcn::gated_edges", mutates_args=())
def _gated(
    e: Tensor | None, C_w: Tensor, C_b: Tensor, Dx: Tensor, Ex: Tensor, Bx: Tensor, edge_index: Tensor, scale: Tensor | None,
    gamma: Tensor, beta: Tensor, mean: Tensor, var: Tensor, eps: float, batch_stats: bool, bn_eps: float,
    residual: bool, edge_update: bool = True,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:  # fmt: skip
    """-> e' ``[E, d]`` (``[0, d]`` without ``edge_update``), m ``[N, d]``, ê ``[E, d]``, eta_norm ``[N, d]``, and the
    edge BN's μ, var used ``[d]``.  ``e`` None: no ``C e`` term (ê = C_b + D x_j + E x_i), and no residual."""
    C_w, C_b = C_w.contiguous(), C_b.contiguous()  # D x, E x, B x as given: the kernels read strided rows
    e = None if e is None else e.contiguous()
    scale = None if scale is None else scale.to(Dx.dtype).contiguous()
    j, i = _ids(edge_index)
    step = _select.chunk_rows(2 * Dx.shape[1], Dx.device)
    kernels = _kernels(j.shape[0] * Dx.shape[1], e, C_w, Dx, Ex, Bx, gamma)
    return kernels.forward(e, C_w, C_b, Dx, Ex, Bx, j, i, scale, gamma, beta, mean, var, eps, batch_stats, bn_eps,
                           residual, step, edge_update)  # fmt: skip


@_gated.register_fake
def _(e, C_w, C_b, Dx, Ex, Bx, edge_index, scale, gamma, beta, mean, var, eps, batch_stats, bn_eps, residual,
      edge_update=True):  # fmt: skip
    (N, d), E = Ex.shape, edge_index.shape[1]
    return (
        Dx.new_empty((E, d) if edge_update else (0, d)),
        Dx.new_empty((N, d)),
        Dx.new_empty((E, d)),
        Dx.new_empty((N, d)),
        Dx.new_empty(d),
        Dx.new_empty(d),
    )


@torch.library.custom_op("gatedgcn::gated_edges_backward", mutates_args=())
def _gated_backward(
    g_e_new: Tensor | None, g_m: Tensor | None, g_e_hat: Tensor | None, e: Tensor | None, C_w: Tensor, C_b: Tensor,
    Dx: Tensor, Ex: Tensor, Bx: Tensor, edge_index: Tensor, eta_norm: Tensor, m: Tensor, e_hat: Tensor | None,
    scale: Tensor | None, gamma: Tensor, beta: Tensor, mean: Tensor, var: Tensor, batch_stats: bool, bn_eps: float,
    residual: bool, need_de: bool,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:  # fmt: skip
    """-> ∂e (``[0]`` unless ``need_de``), ∂C_w (zeros without e), ∂C_b, ∂Dx, ∂Ex, ∂Bx, ∂γ, ∂β.  ``e_hat``: forward's
    ê where it was kept (:func:`~gatedgcn.ops._select.keeps_e_hat`), else None and ê is recomputed."""
    g_m, g_e_hat, e = (None if g is None else g.contiguous() for g in (g_m, g_e_hat, e))  # ∂e' as is: kernels read it
    C_w, C_b = C_w.contiguous(), C_b.contiguous()
    scale = None if scale is None else scale.to(Dx.dtype).contiguous()
    j, i = _ids(edge_index)
    step = _select.chunk_rows(2 * Dx.shape[1], Dx.device)
    kernels = _kernels(j.shape[0] * Dx.shape[1], e, C_w, Dx, Ex, Bx, gamma)
    return kernels.backward(g_e_new, g_m, g_e_hat, e, C_w, C_b, Dx, Ex, Bx, j, i, eta_norm, m, e_hat, scale, gamma,
                            beta, mean, var, batch_stats, bn_eps, residual, step, need_de)  # fmt: skip


@_gated_backward.register_fake
def _(g_e_new, g_m, g_e_hat, e, C_w, C_b, Dx, Ex, Bx, edge_index, eta_norm, m, e_hat, scale, gamma, beta, mean, var,
      *flags):  # fmt: skip
    need_de = flags[-1]
    N, d = Bx.shape
    de = Dx.new_empty((edge_index.shape[1], d) if need_de else (0,))
    return (
        de,
        C_w.new_empty((d, d)),
        C_w.new_empty(d),
        *(Bx.new_empty((N, d)) for _ in range(3)),
        *(gamma.new_empty(d) for _ in range(2)),
    )


def _setup(ctx, inputs, output):
    e, C_w, C_b, Dx, Ex, Bx, edge_index, scale, gamma, beta, _, _, _, batch_stats, bn_eps, residual, *_ = inputs
    _, m, e_hat, eta_norm, mean, var = output
    # ê kept below a size (a matmul and a sweep saved), else recomputed in backward (its [E, d] freed with the caller's)
    kept = e_hat if _select.keeps_e_hat(e_hat.numel()) else None
    ctx.flags = (batch_stats, bn_eps, residual)
    ctx.set_materialize_grads(False)
    # edge_index among the saved tensors: changed in place before backward, autograd refuses to go on
    ctx.save_for_backward(e, C_w, C_b, Dx, Ex, Bx, edge_index, eta_norm, m, kept, scale, gamma, beta, mean, var)
    ctx.mark_non_differentiable(eta_norm, mean, var)


def _backward(ctx, g_e_new, g_m, g_e_hat, _g_eta_norm, _g_mean, _g_var):
    e, C_w, C_b, Dx, Ex, Bx, edge_index, eta_norm, m, kept, scale, gamma, beta, mean, var = ctx.saved_tensors
    need_de = ctx.needs_input_grad[0]
    de, dC_w, dC_b, dDx, dEx, dBx, d_gamma, d_beta = torch.ops.gatedgcn.gated_edges_backward(
        g_e_new, g_m, g_e_hat, e, C_w, C_b, Dx, Ex, Bx, edge_index, eta_norm, m, kept, scale, gamma, beta, mean, var,
        *ctx.flags, need_de,
    )  # fmt: skip
    dC_w = None if e is None else dC_w
    return (de if need_de else None, dC_w, dC_b, dDx, dEx, dBx, None, None, d_gamma, d_beta, *([None] * 7))


_gated.register_autograd(_backward, setup_context=_setup)


def reference(e, C_w, C_b, Dx, Ex, Bx, edge_index, eps, bn=None, scale=None, residual=False, edge_update=True):
    """The plain equations (module docstring) with ``bn`` itself: -> e' (None without ``edge_update``), m, ê."""
    j, i = edge_index  # senders, receivers: [E]
    e_hat = (C_b if e is None else torch.nn.functional.linear(e, C_w, C_b)) + Dx[j] + Ex[i]  # [E, d]
    eta = normalise_gates(torch.sigmoid(e_hat), i, Ex.shape[0], eps)  # [E, d]
    m = segment_sum(eta * Bx[j], i, Ex.shape[0])  # [N, d]
    if not edge_update:
        return None, m, e_hat
    z = e_hat if scale is None else e_hat * scale.unsqueeze(-1)  # [E, d]
    e_new = torch.relu(z if bn is None else bn(z))  # [E, d]
    return (e + e_new if residual and e is not None else e_new), m, e_hat


def gated_edges(
    e: Tensor | None,
    C_w: Tensor,
    C_b: Tensor,
    Dx: Tensor,
    Ex: Tensor,
    Bx: Tensor,
    edge_index: Tensor,
    eps: float,
    bn: torch.nn.Module | None = None,
    scale: Tensor | None = None,
    residual: bool = False,
    *,
    impl: str = "fast",
    edge_update: bool = True,
) -> tuple[Tensor | None, Tensor, Tensor]:
    """The gated GCN's edge step (module docstring): -> e' ``[E, d]``, m ``[N, d]``, ê ``[E, d]``.

    ``bn`` as in :func:`~gatedgcn.ops.norm.norm_relu_residual` (None: no BN); ``scale`` (per edge) as the
    layer's ``edge_scale``.  ``edge_update=False``: e' is neither computed nor returned (None; ``bn``, ``scale`` and
    ``residual`` then play no part), for a last layer whose edge state nothing reads.  ``e`` None: no edge state
    (no ``C e`` term: ê = C_b + D x_j + E x_i, and no residual; the layer's constant edge state).
    Shapes: e ``[E, d]``, C_w ``[d, d]``, C_b ``[d]``, Dx, Ex, Bx ``[N, d]``, edge_index ``[2, E]`` (int32 or int64).
    """
    E, d = edge_index.shape[1], Dx.shape[1]
    plain = impl == "reference" or not fusable(bn) or (scale is not None and scale.requires_grad)
    used = [t for t in (e, C_w, Dx, Ex, Bx) if t is not None]
    if plain or not _select.fused("gated_edges", E * d, *used):
        return reference(e, C_w, C_b, Dx, Ex, Bx, edge_index, eps, bn, scale, residual, edge_update)
    if not edge_update or e is None:
        residual = False
    if not edge_update:
        bn, scale = None, None
    gamma, beta, mean, var, batch_stats, bn_eps = norm_arguments(
        cast("torch.nn.BatchNorm1d | None", bn), Dx.new_empty(()).expand(E, d)
    )
    e_new, m, e_hat, _, mean_b, var_b = torch.ops.gatedgcn.gated_edges(
        e, C_w, C_b, Dx, Ex, Bx, edge_index, scale, gamma, beta, mean, var, eps, batch_stats, bn_eps, residual,
        edge_update,
    )  # fmt: skip
    update_running(cast("torch.nn.BatchNorm1d | None", bn), batch_stats, mean_b, var_b, E)
    return (e_new if edge_update else None), m, e_hat
