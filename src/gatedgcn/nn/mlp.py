"""The MLP baseline: the member of the family whose attention vector is zero.

    h_i = f(U x_i)

It is the GCN layer ``h = f(U x + V X a d⁻¹)`` with ``a = 0``: every node is transformed on its
own and the graph is never read, so a network of these layers sees a graph only through its
readout (the "MLP" rows of Dwivedi et al., *Benchmarking Graph Neural Networks*).  As for the
other layers of :class:`~gatedgcn.model.GraphNet`, ``f`` (and batch norm, residual) are the
model block's; the layer computes ``U x``.
"""

from __future__ import annotations

from torch import Tensor, nn

from gatedgcn.errors import GraphError

__all__ = ["MLPLayer"]


class MLPLayer(nn.Module):
    """``h = U x``, node by node.

    Shapes: x ``[N, in_dim]`` -> h ``[N, out_dim]``.
    """

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.U = nn.Linear(in_dim, out_dim)

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor) or x.dim() != 2 or x.shape[1] != self.U.in_features:
            shape = list(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise GraphError(f"MLPLayer: x must be a [N, {self.U.in_features}] tensor, got {shape}")
        return self.U(x)  # [N, out_dim]
