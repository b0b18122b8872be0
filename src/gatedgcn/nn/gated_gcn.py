"""Residual gated graph convolution (Bresson & Laurent): the graph's attention, gated per channel by the edge.

    ê_ij = C e_ij + D x_j + E x_i                       (D on the sender j, E on the receiver i)
    η_ij = σ(ê_ij) / (Σ_{k→i} σ(ê_ik) + ε)               per channel
    h_i  = x_i + ReLU(BN(A x_i + Σ_{j→i} η_ij ⊙ B x_j))
    e'_ij = e_ij + ReLU(BN(ê_ij))

then dropout on ``h`` and ``e'``.  ``residual=False`` drops the ``x +`` and ``e +``;
``batch_norm=False`` drops BN.  With graph-size normalisation the pre-BN states are
scaled by ``node_scale`` / ``edge_scale`` (e.g. ``1/√|V|``, ``1/√|E|`` of their graph).

Raw inputs, as a PyG layer takes them: with ``in_dim != out_dim`` the equations read ``x = P x_in`` (the
input projection ``P``), with ``edge_dim`` the edge input is projected, ``e = Q edge_attr``.  Without an edge
input every edge has the same learned state: ``e = 0``, so that ``ê_ij = c + D x_j + E x_i`` with ``c`` the bias
of ``C`` (which is ``C e₀ + c`` for any constant ``e₀``: no separate parameter, none left unused when ``e`` is
given) and ``e' = ReLU(BN(ê))``.  An edge state of one row ``[1, d]`` is the state of every edge (a network's
learned constant edge embedding): ``C e`` is then one row, taken into the bias, ``ê_ij = (C e + c) + D x_j + E x_i``
(no ``[E, d]`` matmul), and ``e' = e + ReLU(BN(ê))`` broadcasts it.  ``edge_update=False`` (a last layer whose
edge state nothing reads): no edge BN is built and e' is neither computed nor returned (None).

Every step runs through :mod:`gatedgcn.ops`: :func:`~gatedgcn.ops.gated_edges` (ê, η, m and e'; η is
never stored by its fused kernels) and :func:`~gatedgcn.ops.norm_relu_residual` (h), each choosing its
kernel by device and size; ``impl="reference"`` makes them run the plain equations.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gatedgcn.errors import GraphError
from gatedgcn.graph import check_layer_inputs
from gatedgcn.nn.norm import BatchNorm
from gatedgcn.ops import IMPLS, gated_edges, linear, norm_relu_residual, normalise_gates

__all__ = ["GatedGCNLayer"]


class GatedGCNLayer(nn.Module):
    """``forward(x, edge_index, e=None, *, edge_attr=None) -> (h, e')``.

    Includes batch norm (``batch_norm``), the ReLU and the residual (``residual``) of its equations, and dropout.
    ``GatedGCNLayer(dim)`` maps ``dim -> dim``; ``GatedGCNLayer(7, 64, edge_dim=4)`` reads raw 7-wide node and
    4-wide edge features.  The edge input is ``e`` or, by PyG's name, ``edge_attr`` (one of them): ``[E, edge_dim]``
    projected by ``Q`` when the layer has ``edge_dim``, else the edge state ``[E, out_dim]`` itself; one row
    (``[1, ·]``) is every edge's state; none: the learned constant state (``e = 0`` and the bias of ``C``, module
    docstring).

    ``node_maps``: ``(A x, B x, D x, E x)`` already computed (``[N, out_dim]`` each), for an ``x`` that is an
    embedding whose table the maps were applied to (:meth:`gatedgcn.model.GraphNet.first_maps`).

    Shapes: x ``[N, in_dim]``, edge_index ``[2, E]``; optional node_scale ``[N]``, edge_scale ``[E]``
    -> h ``[N, out_dim]``, e' ``[E, out_dim]`` (None with ``edge_update=False``; and η ``[E, out_dim]`` with
    ``return_weights``).
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int | None = None,
        *,
        edge_dim: int | None = None,
        edge_update: bool = True,
        batch_norm: bool = True,
        residual: bool = True,
        dropout: float = 0.0,
        eps: float = 1e-6,
        impl: str = "fast",
    ) -> None:
        super().__init__()
        d = in_dim if out_dim is None else out_dim
        if min(in_dim, d, 1 if edge_dim is None else edge_dim) < 1:
            raise ValueError(f"GatedGCNLayer: dimensions must be >= 1, got {in_dim}, {out_dim}, edge_dim={edge_dim}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"GatedGCNLayer: dropout must be in [0, 1), got {dropout}")
        if impl not in IMPLS:
            raise ValueError(f"GatedGCNLayer: impl must be one of {IMPLS}, got {impl!r}")
        self.in_channels, self.out_channels, self.edge_dim = in_dim, d, edge_dim
        self.residual, self.eps, self.impl, self.edge_update = residual, eps, impl, edge_update
        self.P = nn.Linear(in_dim, d) if in_dim != d else None  # input projection
        self.Q = nn.Linear(edge_dim, d) if edge_dim is not None else None  # edge projection
        self.A, self.B, self.C, self.D, self.E = (nn.Linear(d, d) for _ in range(5))
        self.bn_h = BatchNorm(d) if batch_norm else nn.Identity()
        self.bn_e = BatchNorm(d) if batch_norm and edge_update else nn.Identity()
        self.drop = nn.Dropout(dropout)

    def reset_parameters(self) -> None:
        """Every weight as at construction (the linear maps' default initialisation, BN fresh)."""
        for f in (self.P, self.Q, self.A, self.B, self.C, self.D, self.E):
            if f is not None:
                f.reset_parameters()
        for bn in (self.bn_h, self.bn_e):
            if isinstance(bn, BatchNorm):
                bn.reset_parameters()

    def node_maps(self, x: Tensor) -> tuple[Tensor, ...]:
        """``A x, B x, D x, E x`` ``[N, d]`` each: the column blocks of ``x [A; B; D; E]ᵀ`` (one product)."""
        maps = (self.A, self.B, self.D, self.E)
        W, b = torch.cat([f.weight for f in maps]), torch.cat([f.bias for f in maps])  # [4d, d], [4d]
        return linear(x, W, b, impl=self.impl).split(self.out_channels, dim=1)  # 4 × [N, d]

    def edge_state(self, edge_index: Tensor, e: Tensor | None, edge_attr: Tensor | None) -> Tensor | None:
        """The layer's input edge state: ``Q e`` or ``e`` itself, ``[E, out_dim]`` or one row ``[1, out_dim]``
        shared by every edge; None for no edge input (0 on every edge)."""
        if e is not None and edge_attr is not None:
            raise GraphError("GatedGCNLayer: pass the edge input as e or as edge_attr, not both")
        given = e if e is not None else edge_attr
        if given is None or self.Q is None:
            return given
        if given.dim() != 2 or given.shape[0] not in (1, edge_index.shape[1]) or given.shape[1] != self.Q.in_features:
            raise GraphError(
                f"GatedGCNLayer: edge_attr must be a [{edge_index.shape[1]}, {self.Q.in_features}] tensor "
                f"(or one row shared by every edge), got {list(given.shape)}"
            )
        return self.Q(given)  # [E, d] or [1, d]

    def forward(
        self,
        x: Tensor,
        edge_index: Tensor,
        e: Tensor | None = None,
        *,
        edge_attr: Tensor | None = None,
        node_scale: Tensor | None = None,
        edge_scale: Tensor | None = None,
        return_weights: bool = False,
        node_maps: tuple[Tensor, Tensor, Tensor, Tensor] | None = None,
    ):
        check_layer_inputs("GatedGCNLayer", x, edge_index, dim=self.in_channels)
        x = x if self.P is None else self.P(x)  # [N, d]
        e = self.edge_state(edge_index, e, edge_attr)  # [E, d], [1, d] (every edge's) or None
        one_row = e is not None and e.dim() == 2 and e.shape[0] == 1 and edge_index.shape[1] != 1
        row, per_edge = (e, None) if one_row else (None, e)  # every edge's state [1, d]; the op's e [E, d] or None
        check_layer_inputs("GatedGCNLayer", x, edge_index, per_edge, dim=self.out_channels, ids=False)
        if row is not None and row.shape[1] != self.out_channels:
            raise GraphError(f"GatedGCNLayer: e must be a [E, {self.out_channels}] tensor, got {list(row.shape)}")
        bn_h, bn_e = (None if isinstance(bn, nn.Identity) else bn for bn in (self.bn_h, self.bn_e))
        # every edge's state the same: C e is one row, the bias of ê
        c = self.C.bias if row is None else F.linear(row, self.C.weight, self.C.bias)[0]  # [d]
        # A x, B x, D x, E x: [N, d] each, the column blocks of one product with the stacked [A; B; D; E] (given:
        # computed from an embedding's table, GraphNet.first_maps)
        Ax, Bx, Dx, Ex = node_maps if node_maps is not None else self.node_maps(x)
        e_new, m, e_hat = gated_edges(
            per_edge, self.C.weight, c, Dx, Ex, Bx, edge_index, self.eps, bn_e, edge_scale, self.residual,
            impl=self.impl, edge_update=self.edge_update,
        )  # fmt: skip  # e', m: [E, d] (or None), [N, d]
        if row is not None and self.residual and e_new is not None:
            e_new = row + e_new  # [E, d]: the residual of the shared state
        h = norm_relu_residual(Ax + m, x if self.residual else None, bn_h, node_scale, impl=self.impl)  # [N, d]
        h, e_new = self.drop(h), (None if e_new is None else self.drop(e_new))
        if not return_weights:
            return h, e_new
        eta = normalise_gates(torch.sigmoid(e_hat), edge_index[1], x.shape[0], self.eps)  # [E, d]
        return h, e_new, eta
