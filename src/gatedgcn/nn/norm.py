"""Batch normalisation that accepts what a graph batch can hold: no rows, or a single row; and its synchronised
form, whose statistics are those of the rows of all processes of a data-parallel job."""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from gatedgcn.ops import update_running

__all__ = ["BatchNorm", "SyncBatchNorm", "synchronised"]


class BatchNorm(nn.BatchNorm1d):
    """``nn.BatchNorm1d`` over rows ``[R, d]``.

    With fewer than two rows in training (a batch without edges, or with one) there are no
    batch statistics: the rows are normalised with the running statistics, which stay as they
    are.  Zero rows give zero rows.  The fused kernels of :mod:`gatedgcn.ops` compute exactly this
    normalisation themselves (``fused_by_ops``).
    """

    fused_by_ops = True

    def forward(self, t: Tensor) -> Tensor:
        if t.shape[0] >= 2 or not self.training:
            return super().forward(t)
        return F.batch_norm(t, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)


class _AllReduceSum(torch.autograd.Function):
    """``Σ_r t_r`` over the processes; backward: the gradient of every process's sum, summed (each ``t_r`` feeds every sum)."""

    @staticmethod
    def forward(ctx, t: Tensor) -> Tensor:
        t = t.clone()
        dist.all_reduce(t)
        return t

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class SyncBatchNorm(BatchNorm):
    """:class:`BatchNorm` whose batch statistics are those of the rows of all processes together:

        n = Σ_r R_r,   μ = Σ_r Σ_rows t / n,   σ² = Σ_r Σ_rows (t - μ)² / n        (two all-reduces)

    The sums are all-reduced with autograd (as ``torch.distributed.nn.functional.all_reduce`` does, which
    torch 2.13 deprecates): the backward all-reduces the gradients, so every process receives the gradient
    of the statistics it contributed to.  Runs on ``gloo``, where ``torch.nn.SyncBatchNorm`` does not.
    Processes may hold different numbers of rows, none included; with fewer than two rows in all of them
    the running statistics are used, as in :class:`BatchNorm`.  Outside a process group it is :class:`BatchNorm`.

    Shapes: t ``[R, d]`` -> ``[R, d]``.
    """

    fused_by_ops = False  # its statistics are all processes': the ops run it as a module

    def forward(self, t: Tensor) -> Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized()):
            return super().forward(t)
        sums = _AllReduceSum.apply(
            torch.cat([t.sum(0), t.new_tensor([t.shape[0]])])
        )  # Σ t of every process, and n: [d + 1]
        n = int(sums[-1])
        if n < 2:
            return F.batch_norm(t, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
        mean = sums[:-1] / n  # [d]
        var = _AllReduceSum.apply((t - mean).pow(2).sum(0)) / n  # biased, as used to normalise: [d]
        update_running(self, True, mean.detach(), var.detach(), n)  # as nn.BatchNorm1d (unbiased running var)
        out = (t - mean) * torch.rsqrt(var + self.eps)  # [R, d]
        return out if self.weight is None else out * self.weight + self.bias


def synchronised(module: nn.Module) -> nn.Module:
    """``module`` with every :class:`BatchNorm` in it replaced by a :class:`SyncBatchNorm` that holds the same
    parameters and statistics (the same tensors: states and checkpoints keep their keys)."""
    if isinstance(module, BatchNorm) and not isinstance(module, SyncBatchNorm):
        sync = SyncBatchNorm(
            module.num_features,
            module.eps,
            module.momentum,
            module.affine,
            module.track_running_stats,
            device=module.running_mean.device if module.running_mean is not None else None,
        )
        if module.affine:
            sync.weight, sync.bias = module.weight, module.bias
        if module.track_running_stats:
            sync.running_mean, sync.running_var, sync.num_batches_tracked = (
                module.running_mean,
                module.running_var,
                module.num_batches_tracked,
            )
        return sync.train(module.training)
    for name, child in module.named_children():
        module.add_module(name, synchronised(child))
    return module
