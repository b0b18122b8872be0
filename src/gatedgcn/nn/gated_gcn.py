"""Residual gated graph convolution (Bresson & Laurent): the graph's attention, gated per channel by the edge.

    ê_ij = C e_ij + D x_j + E x_i                       (D on the sender j, E on the receiver i)
    η_ij = σ(ê_ij) / (Σ_{k→i} σ(ê_ik) + ε)               per channel
    h_i  = x_i + ReLU(BN(A x_i + Σ_{j→i} η_ij ⊙ B x_j))
    e'_ij = e_ij + ReLU(BN(ê_ij))

then dropout on ``h`` and ``e'``.  ``residual=False`` drops the ``x +`` and ``e +``;
``batch_norm=False`` drops BN.  With graph-size normalisation the pre-BN states are
scaled by ``node_scale`` / ``edge_scale`` (e.g. ``1/√|V|``, ``1/√|E|`` of their graph).

``impl="fast"`` (the default) computes the same equations with the fused kernels of
:mod:`gatedgcn.ops._fused` (η is never stored) once the edge tensors are large enough to gain
(:func:`~gatedgcn.ops._fused.worth_fusing`) and its batch norms are plain ones; ``impl="reference"``
always runs the plain code below.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

import torch.nn.functional as F

from gatedgcn.graph import check_layer_inputs
from gatedgcn.ops import IMPLS, compiled_for, gated_edges, norm_relu_residual, worth_fusing
from gatedgcn.nn.norm import BatchNorm
from gatedgcn.ops import normalise_gates, segment_sum

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
        scales = [s for s in (node_scale, edge_scale) if s is not None]
        # from FUSED_MIN_ELEMENTS either kernels pay; below, only the compiled ones, which are asked for (and built) only there
        fast = self.impl == "fast" and (
            worth_fusing(*e.shape) or (worth_fusing(*e.shape, compiled=True) and compiled_for(e, x))
        )
        if fast and not any(s.requires_grad for s in scales) and self._norms_fusable():
            return self._fast(x, edge_index, e, node_scale, edge_scale, return_weights)
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

    def _norms_fusable(self) -> bool:
        """The fused kernels compute plain batch norm themselves; any other normaliser (e.g. one synchronised
        across processes, after :func:`~gatedgcn.nn.norm.synchronised` or ``nn.SyncBatchNorm``) runs in the plain code."""
        return all(type(bn) in (BatchNorm, nn.Identity) for bn in (self.bn_h, self.bn_e))

    def _fast(
        self,
        x: Tensor,
        edge_index: Tensor,
        e: Tensor,
        node_scale: Tensor | None,
        edge_scale: Tensor | None,
        return_weights: bool,
    ):
        """The same equations through :mod:`gatedgcn.ops._fused`: one matmul for A, B, D, E, one pass over the edges."""
        d = x.shape[1]
        W = torch.cat([self.A.weight, self.B.weight, self.D.weight, self.E.weight])  # [4d, d]
        b = torch.cat([self.A.bias, self.B.bias, self.D.bias, self.E.bias])  # [4d]
        Ax, Bx, Dx, Ex = F.linear(x, W, b).split(d, dim=1)  # each [N, d]
        bn_h = self.bn_h if isinstance(self.bn_h, BatchNorm) else None
        bn_e = self.bn_e if isinstance(self.bn_e, BatchNorm) else None
        e_new, m, e_hat = gated_edges(
            e,
            self.C.weight,
            self.C.bias,
            Dx,
            Ex,
            Bx,
            edge_index,
            self.eps,
            bn_e,
            edge_scale,
            self.residual,
            return_e_hat=return_weights,
        )
        h = norm_relu_residual(Ax + m, x if self.residual else None, bn_h, node_scale)  # [N, d]
        h, e_new = self.drop(h), self.drop(e_new)
        if not return_weights:
            return h, e_new
        eta = normalise_gates(torch.sigmoid(e_hat), edge_index[1], x.shape[0], self.eps)  # [E, d]
        return h, e_new, eta
