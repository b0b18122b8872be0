"""Graph convolution: attention whose attention vector is the adjacency of the receiver.

    h_i = f(U x_i + V Σ_j a_ij x_j / d_i)        a_ij = 1 if j -> i, d_i = Σ_j a_ij

The weight of each sender is fixed by the graph (mean over the in-neighbours); a node
with no sender gets ``f(U x_i)``.  ``norm="symmetric"`` gives instead the weight
``1/√(d_i d_j)`` of Kipf & Welling (degrees counted on the given edges, no self-loops added).
``self_weight=False`` drops ``U`` (``h_i = f(V Σ_j a_ij x_j / d_i)``: with self-loops and the symmetric
weights, Kipf & Welling's layer ``f(D^-1/2 (A + I) D^-1/2 X W)``).
The weighted sum is :func:`gatedgcn.ops.gather_scatter`, which picks its kernel by size (no ``[E, d]``
tensor on large graphs); ``impl="reference"`` makes it run the plain gather-multiply-sum.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from gatedgcn.graph import check_layer_inputs
from gatedgcn.ops import IMPLS, gather_scatter, segment_count

__all__ = ["ACTIVATIONS", "GCNLayer"]

ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "relu": torch.relu,
    "identity": lambda t: t,
}


class GCNLayer(nn.Module):
    """``h = f(U x + V X a d⁻¹)``.

    Shapes: x ``[N, in_dim]``, edge_index ``[2, E]`` -> h ``[N, out_dim]``.
    ``activation`` is ``"relu"`` or ``"identity"`` (or ``None``, the same); ``self_weight=False``: no ``U x`` term.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        *,
        activation: str | None = "relu",
        norm: str = "mean",
        impl: str = "fast",
        self_weight: bool = True,
    ) -> None:
        super().__init__()
        activation = "identity" if activation is None else activation
        if activation not in ACTIVATIONS:
            raise ValueError(f"GCNLayer: activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        if norm not in ("mean", "symmetric"):
            raise ValueError(f"GCNLayer: norm must be 'mean' or 'symmetric', got {norm!r}")
        if impl not in IMPLS:
            raise ValueError(f"GCNLayer: impl must be one of {IMPLS}, got {impl!r}")
        self.impl = impl
        self.f = ACTIVATIONS[activation]
        self.norm = norm
        self.U = nn.Linear(in_dim, out_dim) if self_weight else None
        self.V = nn.Linear(in_dim, out_dim)

    def forward(self, x: Tensor, edge_index: Tensor, *, return_weights: bool = False):
        check_layer_inputs("GCNLayer", x, edge_index, dim=self.V.in_features)
        """With ``return_weights`` also the sender weights ``a_ij / d_i`` (or ``1/√(d_i d_j)``): ``[E]``."""
        j, i = edge_index  # senders, receivers: [E]
        N = x.shape[0]
        d = segment_count(i, N, x.dtype).clamp(min=1)  # in-degree d_i: [N]
        w = 1.0 / d[i] if self.norm == "mean" else torch.rsqrt(d[i] * d[j])  # [E]
        # V before aggregating, so that a node with no sender gets no bias from V.
        m = gather_scatter(w, self.V(x), edge_index, N, impl=self.impl)  # Σ_j a_ij V x_j / d_i: [N, out]
        h = self.f(m if self.U is None else self.U(x) + m)  # [N, out]
        return (h, w) if return_weights else h
