"""Batch normalisation that accepts what a graph batch can hold: no rows, or a single row."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["BatchNorm"]


class BatchNorm(nn.BatchNorm1d):
    """``nn.BatchNorm1d`` over rows ``[R, d]``.

    With fewer than two rows in training (a batch without edges, or with one) there are no
    batch statistics: the rows are normalised with the running statistics, which stay as they
    are.  Zero rows give zero rows.
    """

    def forward(self, t: Tensor) -> Tensor:
        if t.shape[0] >= 2 or not self.training:
            return super().forward(t)
        return F.batch_norm(t, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
