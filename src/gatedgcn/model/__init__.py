"""A network of the family: input embedding -> L layers -> readout and MLP head.

The layer is chosen by name; the rest is shared, so that models of the family differ only
in the attention vector ``a`` their layers use.  The gated layer carries its own batch norm,
residual and edge state; every other layer is wrapped in the same block

    h = dropout(x + f(BN(layer(x))))          (the dropout after the residual, as in the gated layer)

with f = ReLU, or ``activation`` (relu, gelu, elu; ELU is the benchmark's GAT block: with ReLU our graph
attention stays at chance on PATTERN, docs/results.md), so the comparison varies the layer.  With ``ffn``
each layer is followed by the FFN block ``h = BN(h + Drop(W₂ Drop(f(W₁ h))))`` (:mod:`gatedgcn.nn.ffn`);
the ``gps`` layer (:mod:`gatedgcn.nn.gps`) is our gated layer plus self-attention over each graph's nodes,
its own FFN after the sum, its edge state carried like the gated layer's.  The nodes' encoding (``pe_dim``)
is embedded by a Linear (after a batch norm with ``pe_encoder=bn_linear``) and added to the node embedding
or concatenated with it (``pe_combine``).  The ``mlp`` layer (``a = 0``: the graph is never read) is the
benchmark's MLP baseline.  Tasks: ``graph`` (mean / sum / max readout), ``node``, ``edge`` (the
end-node states ``[h_j, h_i]`` concatenated).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from gatedgcn.errors import GraphError
from gatedgcn.graph import Batch
from gatedgcn.model.blocks import (
    EDGE_STATE,
    Block,
    MLPReadout,
    blocks,
    edge_layers,
    embed,
    embedding,
    encoding_embedding,
    ffns,
    mapped_embedding,
)
from gatedgcn.nn import GatedGCNLayer, MLPLayer, SelfAttention
from gatedgcn.ops import pad_segments, segment_max, segment_mean, segment_sum
from gatedgcn.spec import LAYERS, ModelSpec

__all__ = ["LAYERS", "READOUTS", "ModelSpec", "GraphNet", "MLPReadout"]

READOUTS = {"mean": segment_mean, "sum": segment_sum, "max": segment_max}  # the choices of ModelSpec.readout


class GraphNet(nn.Module):
    """``forward(batch) -> [B, out]`` (graph), ``[N, out]`` (node) or ``[E, out]`` (edge) outputs."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.spec = s = spec
        self.input_drop = nn.Dropout(s.input_dropout)
        beside = s.pe_hidden if s.pe_dim > 0 and s.pe_combine == "concat" else 0  # channels of the encoding
        self.embed_h = embedding(s.in_dim, s.node_vocab, s.hidden - beside) if s.embed else None
        self.embed_pe = encoding_embedding(s, beside or s.hidden) if s.pe_dim > 0 else None
        self.ffns = ffns(s)
        if s.layer in EDGE_STATE:
            has_features = s.edge_in_dim or s.edge_vocab
            self.embed_e = (
                embedding(s.edge_in_dim, s.edge_vocab, s.hidden) if has_features else nn.Embedding(1, s.hidden)
            )
            self.layers = edge_layers(s)
        else:
            self.layers = blocks(s)
        self.head_drop = nn.Dropout(s.head_dropout)
        width = s.out_dim if s.head == "none" else s.hidden
        self.head = (
            MLPReadout(2 * width if s.level == "edge" else width, s.out_dim, halvings=s.head_layers)
            if s.head == "mlp"
            else nn.Identity()
        )

    def edge_input(self, batch: Batch, edges: Tensor | None = None) -> Tensor:
        """The gated layers' input edge state e⁰ of the batch's edges, or of the edge ids ``edges`` only: ``[E, hidden]``,
        or without edge features the one learned state of every edge ``[1, hidden]`` (the layer broadcasts it)."""
        if batch.edge_attr is not None and (self.spec.edge_in_dim or self.spec.edge_vocab):
            return embed(self.embed_e, batch.edge_attr if edges is None else batch.edge_attr[edges])  # [E, hidden]
        return self.get_parameter("embed_e.weight")  # [1, hidden]: the same state, every edge

    def node_input(self, batch: Batch) -> Tensor:
        """The input node state h⁰ (embedding, plus the positional encoding's): ``[N, hidden]``."""
        h = self.input_drop(batch.x)  # [N, F]
        if self.embed_h is not None:
            h = embed(self.embed_h, h)  # [N, hidden] (concat: [N, hidden - pe_hidden])
        if self.embed_pe is None:
            return h
        p = self.embed_pe(self._positions(batch))  # [N, hidden] (concat: [N, pe_hidden])
        return torch.cat([h, p], dim=-1) if self.spec.pe_combine == "concat" else h + p  # [N, hidden]

    def first_maps(self, batch: Batch) -> tuple[Tensor, Tensor, Tensor, Tensor] | None:
        """``A h⁰, B h⁰, D h⁰, E h⁰`` of the first gated layer from the node embedding's table (``mapped_embedding``:
        four ``[V, d]`` matmuls instead of four ``[N, d]`` ones) where h⁰ is that embedding of category ids exactly
        (no encoding added, no projection) and the layer is on the default path; else None."""
        layer, table = self.layers[0], self.embed_h
        if not isinstance(table, nn.Embedding) or table.max_norm is not None or table.scale_grad_by_freq:
            return None
        if not (isinstance(layer, GatedGCNLayer) and layer.P is None and layer.impl == "fast"):
            return None
        if self.embed_pe is not None or batch.x.is_floating_point():
            return None
        A, B, D, E = mapped_embedding(table, batch.x, (layer.A, layer.B, layer.D, layer.E))
        return A, B, D, E

    def size_scales(self, batch: Batch, dtype: torch.dtype) -> tuple[Tensor | None, Tensor | None]:
        """``1/√|V|`` per node ``[N]`` and ``1/√|E|`` per edge ``[E]`` of their graph with ``graph_size_norm``, else ``None``."""
        if not self.spec.graph_size_norm:
            return None, None
        node_scale = batch.nodes_per_graph.to(dtype).clamp(min=1).rsqrt()[batch.node_graph]  # [N]
        edge_scale = batch.edges_per_graph.to(dtype).clamp(min=1).rsqrt()[batch.edge_graph]  # [E]
        return node_scale, edge_scale

    def forward(self, batch: Batch, *, return_weights: bool = False):
        """With ``return_weights`` also the list of per-layer edge weights: η ``[E, d]`` or a ``[E, H]``
        (with ``self_loops``: ``[E + N, ...]``, the batch's edges, then the loop ``i -> i`` of each node);
        of a gps layer the pair (η ``[E, d]``, a ``[B, H, T, T]``)."""
        s = self.spec
        h = self.node_input(batch)  # [N, hidden]
        node_scale, edge_scale = self.size_scales(batch, h.dtype)  # [N], [E] or None
        weights: list[Any] = []  # per layer: η or a [E, ...], or the pair (η, a) of a gps layer
        if s.layer in EDGE_STATE:
            e = self.edge_input(batch)  # [E, hidden]
            sets = (batch.nodes_per_graph,) if s.layer == "gps" else ()  # the attention's sets: each graph's nodes
            maps = self.first_maps(batch)  # the first layer's A h⁰, B h⁰, D h⁰, E h⁰ from the embedding, or None
            for l, layer in enumerate(self.layers):
                given = {"node_maps": maps} if l == 0 and maps is not None else {}
                # η (and a) only when asked for: the fast path never stores it otherwise
                h, e, *w = layer(
                    h,
                    batch.edge_index,
                    e,
                    *sets,
                    node_scale=node_scale,
                    edge_scale=edge_scale,
                    return_weights=return_weights,
                    **given,
                )
                h = h if self.ffns is None else self.ffns[l](h)  # [N, d]
                if w:
                    weights.append(w[0] if len(w) == 1 else tuple(w))  # η [E, d], or (η, a [B, H, T, T]) of gps
        else:
            edge_index = batch.edge_index  # [2, E]
            if s.self_loops:
                loops = torch.arange(batch.num_nodes, device=edge_index.device).expand(2, -1)  # i -> i: [2, N]
                edge_index = torch.cat([edge_index, loops], dim=1)  # [2, E + N]
            for l, block in enumerate(self.layers):
                h = block(h, self.messages(l, h, edge_index, batch, weights if return_weights else None), node_scale)
                h = h if self.ffns is None else self.ffns[l](h)  # [N, d]
        out = self.head(self.head_drop(self._readout(h, batch)))
        return (out, weights) if return_weights else out

    def _positions(self, batch: Batch) -> Tensor:
        """The batch's PE ``[N, k]``; in training with ``pe_sign_flip`` each graph's columns get a random sign
        (an eigenvector is only defined up to its sign)."""
        if batch.pe is None or batch.pe.shape[-1] != self.spec.pe_dim:
            got = "none" if batch.pe is None else f"width {batch.pe.shape[-1]}"
            raise GraphError(
                f"GraphNet: the model expects positional encodings of width {self.spec.pe_dim}, the batch has {got}"
            )
        if not (self.training and self.spec.pe_sign_flip):
            return batch.pe
        sign = torch.randint(0, 2, (batch.num_graphs, self.spec.pe_dim), device=batch.pe.device) * 2 - 1  # [B, k]
        return batch.pe * sign[batch.node_graph].to(batch.pe.dtype)  # [N, k]

    def messages(
        self, l: int, h: Tensor, edge_index: Tensor, batch: Batch, weights: list[Tensor] | None = None
    ) -> Tensor:
        """Layer ``l``'s messages ``[N, d]`` to every node of ``h`` ``[N, d]`` along ``edge_index``, before its block
        (``self.layers[l](x, messages, node_scale)`` adds norm, f and residual): the one step of a layer that is not
        gated (:mod:`gatedgcn.layerwise` runs it on chunks).  The layer's weights are appended to ``weights`` when
        that list is given (the MLP layer reads no edge and has none)."""
        block = self.layers[l]
        assert isinstance(block, Block), "a gated layer has no separate messages: call it"
        layer = block.layer
        want = weights is not None
        if isinstance(layer, MLPLayer):
            return layer(h)  # [N, d]
        if isinstance(layer, SelfAttention):
            dense, padding = pad_segments(h, batch.nodes_per_graph)  # [B, T, d], [B, T]
            m, *a = layer(dense, padding, return_weights=want) if want else (layer(dense, padding),)
            m = m[~padding]  # [N, d]
        else:
            m, *a = (
                layer(h, edge_index, return_weights=want) if want else (layer(h, edge_index),)
            )  # GCNLayer, GraphAttention
        if weights is not None:
            weights.extend(a)  # a [E, H] / [E], or [B, H, T, T] for dense attention
        return m

    def _readout(self, h: Tensor, batch: Batch) -> Tensor:
        if self.spec.level == "node":
            return h  # [N, d]
        if self.spec.level == "edge":
            j, i = batch.edge_index
            return torch.cat([h[j], h[i]], dim=-1)  # [E, 2d]
        return READOUTS[self.spec.readout](h, batch.node_graph, batch.num_graphs)  # [B, d]

    def first_layer_parameters(self) -> list[nn.Parameter]:
        """The input embedding's weights and the first layer's (where ``train.weight_decay_layers=first`` decays)."""
        first = [*self.layers[0].parameters()]
        return first + ([*self.embed_h.parameters()] if self.embed_h is not None else [])

    def unused_parameters(self) -> list[str]:
        """Names of the parameters that reach no output: the last gated layer's edge batch norm (its edge state
        e' is read by no later layer nor by any readout) where the spec builds it (``last_edge_update``: runs built
        before it could be left out).  DDP needs ``find_unused_parameters`` exactly then."""
        s = self.spec
        if s.layer not in EDGE_STATE or not s.batch_norm or not s.last_edge_update:
            return []
        last = f"layers.{s.layers - 1}.{'local.' if s.layer == 'gps' else ''}bn_e"
        return [f"{last}.{name}" for name, _ in self.get_submodule(last).named_parameters()]

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
