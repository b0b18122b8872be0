"""The feed-forward block of the tuned recipe (GraphGPS, GNN+), after each message-passing layer:

    h' = BN(h + Drop(W₂ Drop(f(W₁ h))))          W₁: d -> r·d, W₂: r·d -> d

with ``f`` one of :data:`ACTIVATIONS` and ``r`` the width factor (2 in GraphGPS and GNN+).
``batch_norm=False`` drops BN (and leaves ``h + …``).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn
from torch.nn import functional as F

from gatedgcn.nn.norm import BatchNorm

__all__ = ["ACTIVATIONS", "FeedForward"]

ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {"relu": F.relu, "gelu": F.gelu, "elu": F.elu}  # a block's f


class FeedForward(nn.Module):
    """Shapes: h ``[N, dim]`` -> ``[N, dim]``."""

    def __init__(
        self, dim: int, *, factor: int = 2, activation: str = "relu", dropout: float = 0.0, batch_norm: bool = True
    ) -> None:
        super().__init__()
        if factor < 1:
            raise ValueError(f"FeedForward: the width factor must be >= 1, got {factor}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"FeedForward: activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"FeedForward: dropout must be in [0, 1), got {dropout}")
        self.W_1 = nn.Linear(dim, factor * dim)
        self.W_2 = nn.Linear(factor * dim, dim)
        self.f = ACTIVATIONS[activation]
        self.drop_inner, self.drop_outer = nn.Dropout(dropout), nn.Dropout(dropout)
        self.bn = BatchNorm(dim) if batch_norm else nn.Identity()

    def forward(self, h: Tensor) -> Tensor:
        inner = self.drop_inner(self.f(self.W_1(h)))  # [N, r·d]
        return self.bn(h + self.drop_outer(self.W_2(inner)))  # [N, d]
