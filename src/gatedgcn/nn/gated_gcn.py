"""Residual gated graph convolution (Bresson & Laurent): the graph's attention, gated per channel by the edge.

    ê_ij = C e_ij + D x_j + E x_i                       (D on the sender j, E on the receiver i)
    η_ij = σ(ê_ij) / (Σ_{k→i} σ(ê_ik) + ε)               per channel
    h_i  = x_i + ReLU(BN(A x_i + Σ_{j→i} η_ij ⊙ B x_j))
    e'_ij = e_ij + ReLU(BN(ê_ij))

then dropout on ``h`` and ``e'``.  ``residual=False`` drops the ``x +`` and ``e +``;
``batch_norm=False`` drops BN.  With graph-size normalisation the pre-BN states are
scaled by ``node_scale`` / ``edge_scale`` (e.g. ``1/√|V|``, ``1/√|E|`` of their graph).

Every step runs through :mod:`gatedgcn.ops`: :func:`~gatedgcn.ops.gated_edges` (ê, η, m and e'; η is
never stored by its fused kernels) and :func:`~gatedgcn.ops.norm_relu_residual` (h), each choosing its
kernel by device and size; ``impl="reference"`` makes them run the plain equations.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gatedgcn.graph import check_layer_inputs
from gatedgcn.nn.norm import BatchNorm
from gatedgcn.ops import IMPLS, gated_edges, norm_relu_residual, normalise_gates

__all__ = ["GatedGCNLayer"]


class GatedGCNLayer(nn.Module):
    """``forward(x, edge_index, e) -> (h, e')``.

    Shapes: x ``[N, dim]``, edge_index ``[2, E]``, e ``[E, dim]``; optional node_scale ``[N]``,
    edge_scale ``[E]`` -> h ``[N, dim]``, e' ``[E, dim]`` (and η ``[E, dim]`` with ``return_weights``).
    """

    def __init__(
        self,
        dim: int,
        *,
        batch_norm: bool = True,
        residual: bool = True,
        dropout: float = 0.0,
        eps: float = 1e-6,
        impl: str = "fast",
    ) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"GatedGCNLayer: dropout must be in [0, 1), got {dropout}")
        if impl not in IMPLS:
            raise ValueError(f"GatedGCNLayer: impl must be one of {IMPLS}, got {impl!r}")
        self.residual, self.eps, self.impl = residual, eps, impl
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
        check_layer_inputs("GatedGCNLayer", x, edge_index, e, dim=self.A.in_features)
        bn_h, bn_e = (None if isinstance(bn, nn.Identity) else bn for bn in (self.bn_h, self.bn_e))
        e_new, m, e_hat = gated_edges(
            e, self.C.weight, self.C.bias, self.D(x), self.E(x), self.B(x), edge_index, self.eps, bn_e, edge_scale,
            self.residual, impl=self.impl,
        )  # fmt: skip  # e', m: [E, d], [N, d]
        h = norm_relu_residual(self.A(x) + m, x if self.residual else None, bn_h, node_scale, impl=self.impl)  # [N, d]
        h, e_new = self.drop(h), self.drop(e_new)
        if not return_weights:
            return h, e_new
        eta = normalise_gates(torch.sigmoid(e_hat), edge_index[1], x.shape[0], self.eps)  # [E, d]
        return h, e_new, eta
