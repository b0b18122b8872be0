"""The tail of a layer: ``y = r + ReLU(BN(s ⊙ t))``, as one op ``gatedgcn::norm_relu_residual``.

The fused kernel walks the rows in chunks (:class:`~gatedgcn.ops._batchnorm.ChunkedNorm`): it keeps only
``t`` and ``[d]`` vectors for backward and recomputes the ReLU mask.  It runs from
``MIN_ELEMENTS["norm_relu_residual"]`` elements (:mod:`gatedgcn.ops._select`); below, and with
``impl="reference"``, the plain equation runs with ``bn`` itself.
"""

from __future__ import annotations

from typing import cast

import torch
from torch import Tensor

from gatedgcn.ops import _select
from gatedgcn.ops._batchnorm import ChunkedNorm, norm_arguments, update_running

__all__ = ["fusable", "norm_relu_residual"]


def fusable(bn: torch.nn.Module | None) -> bool:
    """Whether the fused kernels can compute ``bn`` themselves: None (no BN), or a batch norm whose class says
    ``fused_by_ops = True`` (:class:`gatedgcn.nn.BatchNorm`: batch statistics of the given rows in training,
    running statistics in evaluation or for fewer than two rows).  Any other normaliser (e.g. one whose
    statistics are synchronised across processes) runs as the module it is, in the plain equations."""
    return bn is None or getattr(type(bn), "fused_by_ops", False)


@torch.library.custom_op("gatedgcn::norm_relu_residual", mutates_args=())
def _norm(
    t: Tensor,
    res: Tensor | None,
    scale: Tensor | None,
    gamma: Tensor,
    beta: Tensor,
    mean: Tensor,
    var: Tensor,
    batch_stats: bool,
    eps: float,
) -> tuple[Tensor, Tensor, Tensor]:
    """-> y ``[R, d]`` and the μ, var used ``[d]`` (the batch's with ``batch_stats``, else copies of the given)."""
    t = t.contiguous()
    norm = ChunkedNorm(t, scale, gamma, beta, mean, var, batch_stats, eps, _select.chunk_rows(t.shape[1], t.device))
    y = norm.forward(None if res is None else res.contiguous())
    return y, norm.mean.clone(), norm.var.clone()


@_norm.register_fake
def _(t, res, scale, gamma, beta, mean, var, batch_stats, eps):
    return t.new_empty(t.shape), t.new_empty(t.shape[1:]), t.new_empty(t.shape[1:])


@torch.library.custom_op("gatedgcn::norm_relu_residual_backward", mutates_args=())
def _norm_backward(
    g: Tensor,
    t: Tensor,
    scale: Tensor | None,
    gamma: Tensor,
    beta: Tensor,
    mean: Tensor,
    var: Tensor,
    batch_stats: bool,
    eps: float,
) -> tuple[Tensor, Tensor, Tensor]:
    """-> ``∂t, ∂γ, ∂β`` for the output gradient ``g``."""
    g, t = g.contiguous(), t.contiguous()
    norm = ChunkedNorm(t, scale, gamma, beta, mean, var, False, eps, _select.chunk_rows(t.shape[1], t.device))
    norm.batch_stats = batch_stats  # the statistics are given; their gradient is the batch's if they were
    d_gamma, d_beta = norm.backward_sums(g)
    dt = torch.empty_like(t)  # [R, d]
    for r in norm.chunks():
        norm.grad(r, dt[r])
    return dt, d_gamma, d_beta


@_norm_backward.register_fake
def _(g, t, scale, gamma, beta, mean, var, batch_stats, eps):
    return t.new_empty(t.shape), gamma.new_empty(gamma.shape), gamma.new_empty(gamma.shape)


def _setup(ctx, inputs, output):
    t, res, scale, gamma, beta, _, _, batch_stats, eps = inputs
    _, mean, var = output
    ctx.flags = (res is not None, batch_stats, eps)
    ctx.save_for_backward(t, scale, gamma, beta, mean, var)
    ctx.mark_non_differentiable(mean, var)


def _backward(ctx, g, _g_mean, _g_var):
    t, scale, gamma, beta, mean, var = ctx.saved_tensors
    has_res, batch_stats, eps = ctx.flags
    dt, d_gamma, d_beta = torch.ops.gatedgcn.norm_relu_residual_backward(
        g, t, scale, gamma, beta, mean, var, batch_stats, eps
    )
    return dt, g if has_res else None, None, d_gamma, d_beta, None, None, None, None


_norm.register_autograd(_backward, setup_context=_setup)


def norm_relu_residual(
    t: Tensor,
    res: Tensor | None,
    bn: torch.nn.Module | None,
    scale: Tensor | None = None,
    *,
    impl: str = "fast",
) -> Tensor:
    """``y = res + ReLU(BN(scale ⊙ t))`` (``res`` None: no residual; ``bn`` None: no BN).

    ``bn`` as the project's :class:`~gatedgcn.nn.BatchNorm`: batch statistics in training (running
    statistics updated as ``nn.BatchNorm1d`` does), running statistics in evaluation or for fewer than two
    rows.  ``impl="reference"`` (or a ``bn`` the kernels cannot compute, :func:`fusable`, or a ``scale``
    that needs a gradient) always runs the plain equation.
    Shapes: t ``[R, d]``, res ``[R, d]`` or None, scale ``[R]`` or None -> ``[R, d]``.
    """
    plain = impl == "reference" or not fusable(bn) or (scale is not None and scale.requires_grad)
    if plain or not _select.fused("norm_relu_residual", t.numel()):
        z = t if scale is None else t * scale.unsqueeze(-1)  # [R, d]
        y = torch.relu(z if bn is None else bn(z))  # [R, d]
        return y if res is None else res + y
    gamma, beta, mean, var, batch_stats, eps = norm_arguments(cast("torch.nn.BatchNorm1d | None", bn), t)
    y, mean_b, var_b = torch.ops.gatedgcn.norm_relu_residual(t, res, scale, gamma, beta, mean, var, batch_stats, eps)
    update_running(cast("torch.nn.BatchNorm1d | None", bn), batch_stats, mean_b, var_b, t.shape[0])
    return y
