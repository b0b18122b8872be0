"""The GraphGPS layer (Rampášek et al. 2022) on our layers: a given ``a`` and a computed ``a``, added.

A GCN is attention whose weights are given by the graph; global attention computes them over all
nodes of the graph.  GPS sums the two in one layer, the local part being our residual gated GCN,
whose edge state is carried to the next layer:

    h_L, e' = GatedGCN(h, e)           h_L = h + ReLU(BN(A h_i + Σ_{j→i} η_ij ⊙ B h_j)),  e' = e + ReLU(BN(ê))
    h_A     = h + Drop(MHA(h))         MHA = SelfAttention over the nodes of each graph (a_ij = softmax_j(β k_j·q_i))
    h'      = FFN(BN_L(h_L) + BN_A(h_A))        FFN(x) = BN(x + Drop(W₂ Drop(f(W₁ x))))

(``h + GatedGCN(h, e)`` of the GraphGPS paper is ``h_L``: our gated layer carries its residual, and its dropout
is the layer's own.)  Each graph's nodes are padded to a dense set with a key padding mask, as the ``attention``
model does; a node attends only to the nodes of its own graph.  The graphs are padded :data:`GROUP` at a time,
sorted by size (:func:`attend_by_size`); with ``return_weights``, all at once (``a`` is one ``[B, H, T, T]``).

Shapes: x ``[N, dim]``, edge_index ``[2, E]``, e ``[E, dim]``, nodes_per_graph ``[B]`` (the batch's nodes are
graph by graph), optional node_scale ``[N]`` / edge_scale ``[E]`` (of the gated part) -> h ``[N, dim]``,
e' ``[E, dim]`` (None with ``edge_update=False``); with ``return_weights`` also η ``[E, dim]`` and a ``[B, H, T, T]``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from gatedgcn.nn.attention import SelfAttention
from gatedgcn.nn.ffn import FeedForward
from gatedgcn.nn.gated_gcn import GatedGCNLayer
from gatedgcn.nn.norm import BatchNorm
from gatedgcn.ops import pad_segments

__all__ = ["GPSLayer", "attend_by_size"]

GROUP = 8  # graphs padded together by the self-attention (sorted by size)


class GPSLayer(nn.Module):
    def __init__(
        self,
        dim: int,
        *,
        heads: int = 1,
        heads_join: str = "linear",
        dropout: float = 0.0,
        activation: str = "relu",
        ffn_factor: int = 2,
        batch_norm: bool = True,
        impl: str = "fast",
        edge_update: bool = True,
    ) -> None:
        """``edge_update=False``: the gated part computes no e' (a last layer; forward returns e' None)."""
        super().__init__()
        self.local = GatedGCNLayer(dim, edge_update=edge_update, batch_norm=batch_norm, dropout=dropout, impl=impl)
        self.attention = SelfAttention(dim, heads=heads, heads_join=heads_join)
        self.drop_attention = nn.Dropout(dropout)
        self.bn_local = BatchNorm(dim) if batch_norm else nn.Identity()
        self.bn_attention = BatchNorm(dim) if batch_norm else nn.Identity()
        self.ffn = FeedForward(dim, factor=ffn_factor, activation=activation, dropout=dropout, batch_norm=batch_norm)

    def forward(
        self,
        x: Tensor,
        edge_index: Tensor,
        e: Tensor,
        nodes_per_graph: Tensor,
        *,
        node_scale: Tensor | None = None,
        edge_scale: Tensor | None = None,
        return_weights: bool = False,
    ):
        h_local, e_new, *eta = self.local(
            x, edge_index, e, node_scale=node_scale, edge_scale=edge_scale, return_weights=return_weights
        )  # [N, d], [E, d] (, η [E, d])
        if return_weights:  # the weights of the whole batch: one padded set per graph, a [B, H, T, T]
            dense, padding = pad_segments(x, nodes_per_graph)  # [B, T, d], [B, T]
            m, a = self.attention(dense, padding, return_weights=True)
            m = m[~padding]  # [N, d]
        else:
            m = attend_by_size(self.attention, x, nodes_per_graph)  # [N, d]
        h_attention = x + self.drop_attention(m)  # [N, d]
        h = self.ffn(self.bn_local(h_local) + self.bn_attention(h_attention))  # [N, d]
        return (h, e_new, eta[0], a) if return_weights else (h, e_new)


def attend_by_size(attention: SelfAttention, x: Tensor, nodes_per_graph: Tensor, group: int = GROUP) -> Tensor:
    """``attention`` over each graph's nodes, the graphs sorted by size and padded ``group`` at a time (to the largest
    of the group, not of the batch: on 128 peptides the padded batch does ~5x the work of the graphs themselves,
    groups of 8 ~1.2x).  Each node's output is the same as in one padded batch.

    Shapes: x ``[N, d]`` (graph by graph), nodes_per_graph ``[B]`` -> ``[N, d]``."""
    sizes, order = torch.sort(nodes_per_graph, stable=True)  # [B]
    starts = torch.cumsum(nodes_per_graph, 0) - nodes_per_graph  # first node of each graph: [B]
    first = torch.repeat_interleave(starts[order], sizes)  # [N] first node of each sorted node's graph
    offset = torch.arange(x.shape[0], device=x.device) - torch.repeat_interleave(torch.cumsum(sizes, 0) - sizes, sizes)
    perm = first + offset  # [N]: node ids, graphs in size order
    groups = sizes.split(group)  # the sizes of each group's graphs
    parts = []
    for rows, counts in zip(torch.split(x[perm], [int(c.sum()) for c in groups]), groups):
        dense, padding = pad_segments(rows, counts)  # [g, T_g, d], [g, T_g]
        parts.append(attention(dense, padding)[~padding])  # [n_g, d]
    m = torch.cat(parts) if parts else x[:0]  # [N, d], graphs in size order
    return torch.empty_like(x).index_copy(0, perm, m)  # in the batch's node order: [N, d]
