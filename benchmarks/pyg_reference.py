"""The family written the straightforward PyTorch Geometric way: the references of the speed benchmark.

Only public PyG API (``MessagePassing``, ``edge_updater``, ``propagate``, ``utils.scatter``,
``TransformerConv``).  The weights carry our names and meanings, so that
:func:`copy_weights` makes a PyG layer compute exactly what the gatedgcn layer computes;
the benchmark checks that before timing anything.

    ê_ij = C e_ij + D x_j + E x_i
    η_ij = σ(ê_ij) / (Σ_{k→i} σ(ê_ik) + ε)
    h_i  = x_i + ReLU(BN(A x_i + Σ_{j→i} η_ij ⊙ B x_j)),   e'_ij = e_ij + ReLU(BN(ê_ij))
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing, TransformerConv
from torch_geometric.utils import scatter

__all__ = ["PyGGatedGCN", "PyGMeanConv", "pyg_attention", "copy_weights"]


class PyGGatedGCN(MessagePassing):
    """The residual gated GCN as a ``MessagePassing`` layer (sum aggregation of ``η ⊙ B x_j``).

    Shapes: x ``[N, d]``, edge_index ``[2, E]`` (row 0 sender j, row 1 receiver i), e ``[E, d]`` -> h ``[N, d]``, e' ``[E, d]``.
    """

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__(aggr="add", flow="source_to_target")
        self.eps = eps
        self.A, self.B, self.C, self.D, self.E = (nn.Linear(dim, dim) for _ in range(5))
        self.bn_h, self.bn_e = nn.BatchNorm1d(dim), nn.BatchNorm1d(dim)

    def forward(self, x: Tensor, edge_index: Tensor, e: Tensor) -> tuple[Tensor, Tensor]:
        i = edge_index[1]  # receivers: [E]
        e_hat = self.edge_updater(edge_index, Dx=self.D(x), Ex=self.E(x), Ce=self.C(e))  # [E, d]
        sigma = torch.sigmoid(e_hat)  # [E, d]
        total = scatter(sigma, i, dim=0, dim_size=x.shape[0], reduce="sum")  # [N, d]
        eta = sigma / (total[i] + self.eps)  # [E, d]
        m = self.propagate(edge_index, Bx=self.B(x), eta=eta)  # [N, d]
        h = x + torch.relu(self.bn_h(self.A(x) + m))  # [N, d]
        e_new = e + torch.relu(self.bn_e(e_hat))  # [E, d]
        return h, e_new

    def edge_update(self, Dx_j: Tensor, Ex_i: Tensor, Ce: Tensor) -> Tensor:
        return Ce + Dx_j + Ex_i

    def message(self, Bx_j: Tensor, eta: Tensor) -> Tensor:
        return eta * Bx_j


class PyGMeanConv(MessagePassing):
    """``h_i = U x_i + mean_{j→i} V x_j``: the mean-aggregation layer our ``GCNLayer`` (activation None) is."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__(aggr="mean", flow="source_to_target")
        self.U, self.V = nn.Linear(in_dim, out_dim), nn.Linear(in_dim, out_dim)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        return self.U(x) + self.propagate(edge_index, v=self.V(x))

    def message(self, v_j: Tensor) -> Tensor:
        return v_j


def pyg_attention(dim: int) -> TransformerConv:
    """One head, no edge features, no skip, no bias: ``h_i = Σ_j softmax_j(q_i·k_j/√d) v_j`` as our ``GraphAttention``."""
    return TransformerConv(dim, dim, heads=1, root_weight=False, bias=False)


@torch.no_grad()
def copy_weights(ours: nn.Module, theirs: nn.Module) -> None:
    """Give a PyG reference the weights of the gatedgcn layer it mirrors."""
    if isinstance(theirs, TransformerConv):
        pairs = [(theirs.lin_query, ours.W_q), (theirs.lin_key, ours.W_k), (theirs.lin_value, ours.W_v)]
    elif isinstance(theirs, PyGMeanConv):
        pairs = [(theirs.U, ours.U), (theirs.V, ours.V)]
    else:
        pairs = [(getattr(theirs, n), getattr(ours, n)) for n in "ABCDE"] + [(theirs.bn_h, ours.bn_h)]
        if ours.edge_update:  # else our layer has no edge BN (a last layer: its e' is read by nothing)
            pairs.append((theirs.bn_e, ours.bn_e))
    for dst, src in pairs:
        dst.load_state_dict(src.state_dict())
