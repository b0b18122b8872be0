"""Graph convolution: attention whose attention vector is the adjacency of the receiver.

    h_i = f(U x_i + V Σ_j a_ij x_j / d_i)        a_ij = 1 if j -> i, d_i = Σ_j a_ij

The weight of each sender is fixed by the graph (mean over the in-neighbours); a node
with no sender gets ``f(U x_i)``.  ``norm="symmetric"`` gives instead the weight
``1/√(d_i d_j)`` of Kipf & Welling (degrees counted on the given edges, no self-loops added).
``self_weight=False`` drops ``U`` (``h_i = f(V Σ_j a_ij x_j / d_i)``: with self-loops and the symmetric
weights, Kipf & Welling's layer ``f(D^-1/2 (A + I) D^-1/2 X W)``).  ``edge_weight`` (PyG's name) gives
``a_ij = w_ij`` instead of 1, and the degrees are the weighted ones, ``d_i = Σ_j w_ij``; a degree of 0
counts as 1 (a node without senders, or a sender that receives nothing, in the symmetric weights).
The weighted sum is :func:`gatedgcn.ops.gather_scatter`, which picks its kernel by size (no ``[E, d]``
tensor on large graphs); ``impl="reference"`` makes it run the plain gather-multiply-sum.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from gatedgcn.errors import GraphError
from gatedgcn.graph import check_layer_inputs
from gatedgcn.ops import IMPLS, gather_scatter, linear, segment_count, segment_sum

__all__ = ["ACTIVATIONS", "GCNLayer"]

ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "relu": torch.relu,
    "identity": lambda t: t,
}


class GCNLayer(nn.Module):
    """``h = f(U x + V X a d⁻¹)``.

    Includes the activation ``f`` only: no norm, no residual (the model's block adds them).
    Shapes: x ``[N, in_dim]``, edge_index ``[2, E]``, optional edge_weight ``[E]`` (finite, >= 0) -> h ``[N, out_dim]``.
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
        self.in_channels, self.out_channels = in_dim, out_dim
        self.U = nn.Linear(in_dim, out_dim) if self_weight else None
        self.V = nn.Linear(in_dim, out_dim)

    def reset_parameters(self) -> None:
        """``U`` and ``V`` as at construction (``nn.Linear``'s default initialisation)."""
        for f in (self.U, self.V):
            if f is not None:
                f.reset_parameters()

    def forward(
        self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None, *, return_weights: bool = False
    ):
        """With ``return_weights`` also the sender weights ``a_ij / d_i`` (or ``a_ij/√(d_i d_j)``): ``[E]``."""
        check_layer_inputs("GCNLayer", x, edge_index, dim=self.in_channels)
        j, i = edge_index  # senders, receivers: [E]
        N = x.shape[0]
        if edge_weight is None:
            a = None
            d = segment_count(i, N, x.dtype).clamp(min=1)  # in-degree d_i: [N]
        else:
            a = _check_weight(edge_weight, edge_index.shape[1]).to(x.dtype)  # a_ij: [E]
            d = segment_sum(a, i, N)  # weighted in-degree: [N]
            d = torch.where(d > 0, d, torch.ones_like(d))  # [N]
        w = 1.0 / d[i] if self.norm == "mean" else torch.rsqrt(d[i] * d[j])  # [E]
        w = w if a is None else a * w  # [E]
        # V before aggregating, so that a node with no sender gets no bias from V.
        Vx = linear(x, self.V.weight, self.V.bias, impl=self.impl)  # [N, out]
        m = gather_scatter(w, Vx, edge_index, N, impl=self.impl)  # Σ_j a_ij V x_j / d_i: [N, out]
        h = self.f(m if self.U is None else linear(x, self.U.weight, self.U.bias, impl=self.impl) + m)  # [N, out]
        return (h, w) if return_weights else h


def _check_weight(edge_weight: Tensor, E: int) -> Tensor:
    """``edge_weight`` as given, if it is a finite, non-negative ``[E]`` tensor; else :class:`GraphError`."""
    if not isinstance(edge_weight, Tensor) or edge_weight.shape != (E,) or not edge_weight.is_floating_point():
        shape = list(edge_weight.shape) if isinstance(edge_weight, Tensor) else type(edge_weight).__name__
        raise GraphError(f"GCNLayer: edge_weight must be a float [{E}] tensor (one weight per edge), got {shape}")
    if E and not (torch.isfinite(edge_weight).all() and (edge_weight >= 0).all()):
        raise GraphError(
            "GCNLayer: edge_weight must be finite and >= 0 (a negative weighted degree has no square root)"
        )
    return edge_weight
