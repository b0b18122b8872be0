"""The pieces a :class:`~gatedgcn.model.GraphNet` is built of: input embeddings, the layers of each kind, the block
around a layer without its own normalisation, the FFN stack, and the MLP head."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from gatedgcn.nn import (
    BatchNorm,
    FeedForward,
    GatedGCNLayer,
    GCNLayer,
    GPSLayer,
    GraphAttention,
    MLPLayer,
    SelfAttention,
)
from gatedgcn.nn.ffn import ACTIVATIONS
from gatedgcn.spec import ModelSpec

__all__ = [
    "EDGE_STATE",
    "Block",
    "MLPReadout",
    "embed",
    "embedding",
    "encoding_embedding",
    "edge_layers",
    "blocks",
    "ffns",
]

EDGE_STATE = ("gated_gcn", "gps")  # the layers that carry an edge state from layer to layer


def embedding(dim: int, vocab: int, hidden: int) -> nn.Module:
    """Float features ``[R, dim]`` through a linear map, or category ids ``[R]`` through an embedding."""
    return nn.Embedding(vocab, hidden) if vocab > 0 else nn.Linear(dim, hidden)


def mapped_embedding(module: nn.Embedding, t: Tensor, maps: tuple[nn.Linear, ...]) -> list[Tensor]:
    """``[lin(embed(module, t)) for lin in maps]``, computed on the table: a linear map of an embedding row is a row of
    the mapped table, ``W[t] Aᵀ + b = (W Aᵀ + b)[t]`` (K ids per row: ``Σ_k (W Aᵀ)[t_k] + b``), so the maps cost a
    ``[V, hidden]`` matmul each instead of an ``[R, hidden]`` one (V categories, R rows: on a molecule batch 65 atom
    types against 2,216 atoms).  ``[R, out]`` each: column slices of one ``[R, Σ out]``."""
    weight = torch.cat([lin.weight for lin in maps])  # [Σ out, hidden]
    bias = torch.cat([lin.bias for lin in maps])  # [Σ out]
    if t.dim() == 1:
        rows = F.embedding(t, F.linear(module.weight, weight, bias))  # [R, Σ out]
    else:
        rows = F.embedding_bag(t, F.linear(module.weight, weight), mode="sum") + bias  # [R, Σ out]
    return list(rows.split([lin.out_features for lin in maps], dim=1))


def encoding_embedding(s: ModelSpec, width: int) -> nn.Module:
    """The nodes' encoding ``[N, k]`` -> ``[N, width]``: a Linear, after a batch norm of the raw encoding (bn_linear)."""
    linear = nn.Linear(s.pe_dim, width)
    return nn.Sequential(BatchNorm(s.pe_dim), linear) if s.pe_encoder == "bn_linear" else linear


def _edge_layer(s: ModelSpec, last: bool = False) -> nn.Module:
    """A layer that carries the edge state: our gated GCN, or the GPS layer around it; the ``last`` one computes no
    edge state (no readout reads it) unless the spec says so (``last_edge_update``: runs built before)."""
    edge_update = s.last_edge_update or not last
    if s.layer == "gps":
        return GPSLayer(
            s.hidden,
            heads=s.heads,
            heads_join=s.heads_join,
            dropout=s.dropout,
            activation=s.activation,
            ffn_factor=s.ffn_factor,
            batch_norm=s.batch_norm,
            impl=s.impl,
            edge_update=edge_update,
        )
    return GatedGCNLayer(
        s.hidden, batch_norm=s.batch_norm, residual=s.residual, dropout=s.dropout, impl=s.impl, edge_update=edge_update
    )


def embed(module: nn.Module, t: Tensor) -> Tensor:
    """``module(t)``; K category ids per row (``[R, K]`` integers, e.g. OGB's 9 atom features) sum their rows:
    ``Σ_k W[t_rk]`` as one ``embedding_bag`` (no ``[R, K, hidden]`` intermediate; on a batch of 200 peptides its
    backward takes a quarter of the time of the embedding's and its sum's)."""
    if t.is_floating_point() or t.dim() != 2:
        return module(t)  # [R, hidden]
    if not isinstance(module, nn.Embedding) or module.max_norm is not None or module.scale_grad_by_freq:
        raise TypeError(f"embed: K ids per row need a plain nn.Embedding, got {module}")
    return F.embedding_bag(t, module.weight, mode="sum", padding_idx=module.padding_idx)  # [R, hidden]


class MLPReadout(nn.Module):
    """``hidden -> hidden/2 -> ... -> hidden/2^halvings -> out`` with ReLU between (the benchmark's readout: 2 halvings;
    0 halvings: one Linear)."""

    def __init__(self, in_dim: int, out_dim: int, halvings: int = 2) -> None:
        super().__init__()
        widths = [in_dim // 2**k for k in range(halvings + 1)]
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths, widths[1:]))
        self.out = nn.Linear(widths[-1], out_dim)

    def forward(self, h: Tensor) -> Tensor:
        for lin in self.hidden:
            h = torch.relu(lin(h))
        return self.out(h)


class Block(nn.Module):
    """``h = dropout(x + f(BN(s · layer(x))))`` around a layer without its own normalisation (f: one of
    :data:`ACTIVATIONS`; ``residual=False``: ``dropout(f(BN(s · layer(x))))``)."""

    def __init__(
        self,
        layer: nn.Module,
        hidden: int,
        *,
        batch_norm: bool,
        residual: bool,
        dropout: float,
        activation: str | None = "relu",
    ) -> None:
        super().__init__()
        self.layer = layer
        # None: the output layer (no f after it)
        self.f = _identity if activation is None else ACTIVATIONS[activation]
        self.bn = BatchNorm(hidden) if batch_norm else nn.Identity()
        self.residual = residual
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, h: Tensor, node_scale: Tensor | None) -> Tensor:
        if node_scale is not None:
            h = h * node_scale.unsqueeze(-1)  # [N, d]
        h = self.f(self.bn(h))  # [N, d]
        return self.drop(x + h if self.residual else h)


def _identity(t: Tensor) -> Tensor:
    return t


def edge_layers(s: ModelSpec) -> nn.ModuleList:
    """The ``s.layers`` layers that carry the edge state (gated GCN or GPS), the last one without its edge update."""
    return nn.ModuleList(_edge_layer(s, last=k == s.layers - 1) for k in range(s.layers))


def _node_layer(s: ModelSpec, in_dim: int, out_dim: int) -> nn.Module:
    """A layer of the kinds without an edge state (``in_dim -> out_dim`` for gcn; the others keep ``hidden``)."""
    if s.layer == "gcn":
        return GCNLayer(in_dim, out_dim, activation=None, norm=s.gcn_norm, impl=s.impl, self_weight=s.gcn_self_weight)
    if s.layer == "graph_attention":
        return GraphAttention(
            s.hidden,
            heads=s.heads,
            impl=s.impl,
            score=s.score,
            heads_join=s.heads_join,
            attention_dropout=s.attention_dropout,
        )
    if s.layer == "attention":
        return SelfAttention(s.hidden, heads=s.heads, heads_join=s.heads_join)
    return MLPLayer(s.hidden, s.hidden)


def blocks(s: ModelSpec) -> nn.ModuleList:
    """The ``s.layers`` layers without an edge state, each in its :class:`Block`; with ``embed=false`` the first reads
    the raw features, with ``head="none"`` the last outputs the classes (no norm, f or dropout after it)."""
    widths = [s.hidden if s.embed else s.in_dim] + [s.hidden] * (s.layers - 1)  # each layer's input
    widths.append(s.out_dim if s.head == "none" else s.hidden)  # the last layer's output
    out = nn.ModuleList()
    for k in range(s.layers):
        last = s.head == "none" and k == s.layers - 1
        out.append(
            Block(
                _node_layer(s, widths[k], widths[k + 1]),
                widths[k + 1],
                batch_norm=s.batch_norm and not last,
                residual=s.residual,
                dropout=0.0 if last else s.dropout,
                activation=None if last else s.activation,
            )
        )
    return out


def ffns(s: ModelSpec) -> nn.ModuleList | None:
    """The FFN block after each layer (``ffn``), or None."""
    if not s.ffn:
        return None
    return nn.ModuleList(
        FeedForward(s.hidden, factor=s.ffn_factor, activation=s.activation, dropout=s.dropout, batch_norm=s.batch_norm)
        for _ in range(s.layers)
    )
