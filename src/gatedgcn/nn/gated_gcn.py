"""Residual gated graph convolution (Bresson & Laurent): the graph's attention, gated per channel by the edge.

    ê_ij = C e_ij + D x_j + E x_i                       (D on the sender j, E on the receiver i)
    η_ij = σ(ê_ij) / (Σ_{k→i} σ(ê_ik) + ε)               per channel
    h_i  = x_i + ReLU(BN(A x_i + Σ_{j→i} η_ij ⊙ B x_j))
    e'_ij = e_ij + ReLU(BN(ê_ij))

then dropout on ``h`` and ``e'``.  ``residual=False`` drops the ``x +`` and ``e +``;
``batch_norm=False`` drops BN.  With graph-size normalisation the pre-BN states are
scaled by ``node_scale`` / ``edge_scale`` (e.g. ``1/√|V|``, ``1/√|E|`` of their graph).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gatedgcn.nn.norm import BatchNorm
from gatedgcn.ops import normalise_gates, segment_sum

__all__ = ["GatedGCNLayer"]


class GatedGCNLayer(nn.Module):
    """``forward(x, edge_index, e) -> (h, e')``.

    Shapes: x ``[N, dim]``, edge_index ``[2, E]``, e ``[E, dim]``; optional node_scale ``[N]``,
    edge_scale ``[E]`` -> h ``[N, dim]``, e' ``[E, dim]`` (and η ``[E, dim]`` with ``return_weights``).
    """

    def __init__(self, dim: int, *, batch_norm: bool = True, residual: bool = True, dropout: float = 0.0, eps: float = 1e-6) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"GatedGCNLayer: dropout must be in [0, 1), got {dropout}")
        self.residual, self.eps = residual, eps
        self.A, self.B, self.C, self.D, self.E = (nn.Linear(dim, dim) for _ in range(5))
        self.bn_h = BatchNorm(dim) if batch_norm else nn.Identity()
        self.bn_e = BatchNorm(dim) if batch_norm else nn.Identity()
        self.drop = nn.Dropout(dropout)

    def forward(
        self,
        x: Tensor,
        edge_index: Tensor,
        e: Tensor,
        *,
        node_scale: Tensor | None = None,
        edge_scale: Tensor | None = None,
        return_weights: bool = False,
    ):
        j, i = edge_index  # senders, receivers: [E]
        N = x.shape[0]
        e_hat = self.C(e) + self.D(x)[j] + self.E(x)[i]  # [E, d]
        eta = normalise_gates(torch.sigmoid(e_hat), i, N, self.eps)  # [E, d]
        h = self.A(x) + segment_sum(eta * self.B(x)[j], i, N)  # [N, d]
        e_new = e_hat
        if node_scale is not None:
            h = h * node_scale.unsqueeze(-1)  # [N, d]
        if edge_scale is not None:
            e_new = e_new * edge_scale.unsqueeze(-1)  # [E, d]
        h = torch.relu(self.bn_h(h))  # [N, d]
        e_new = torch.relu(self.bn_e(e_new))  # [E, d]
        if self.residual:
            h, e_new = x + h, e + e_new
        h, e_new = self.drop(h), self.drop(e_new)
        return (h, e_new, eta) if return_weights else (h, e_new)
