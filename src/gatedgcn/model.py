"""A network of the family: input embedding -> L layers -> readout and MLP head.

The layer is chosen by name; the rest is shared, so that models of the family differ only
in the attention vector ``a`` their layers use.  The gated layer carries its own batch norm,
residual and edge state; every other layer is wrapped in the same block

    h = x + dropout(f(BN(layer(x))))

with f = ReLU; around graph attention f may be ELU (``attention_activation``, the benchmark's GAT
block: with ReLU our graph attention stays at chance on PATTERN, docs/results.md), so the comparison
varies the layer (and, for graph attention, f).  The ``mlp`` layer (``a = 0``: the graph is never read) is the
benchmark's MLP baseline.  Tasks: ``graph`` (mean / sum / max readout), ``node``, ``edge`` (the
end-node states ``[h_j, h_i]`` concatenated).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from gatedgcn.errors import GraphError
from gatedgcn.graph import Batch
from gatedgcn.nn import BatchNorm, GatedGCNLayer, GCNLayer, GraphAttention, MLPLayer, SelfAttention
from gatedgcn.ops import pad_segments, segment_max, segment_mean, segment_sum
from gatedgcn.spec import LAYERS, ModelSpec

__all__ = ["LAYERS", "READOUTS", "ModelSpec", "GraphNet", "MLPReadout"]

READOUTS = {"mean": segment_mean, "sum": segment_sum, "max": segment_max}  # the choices of ModelSpec.readout
ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "relu": torch.relu,
    "elu": nn.functional.elu,
}  # f of a block: the choices of attention_activation


def _embedding(dim: int, vocab: int, hidden: int) -> nn.Module:
    """Float features ``[R, dim]`` through a linear map, or category ids ``[R]`` through an embedding."""
    return nn.Embedding(vocab, hidden) if vocab > 0 else nn.Linear(dim, hidden)


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


class _Block(nn.Module):
    """``h = x + dropout(f(BN(s · layer(x))))`` around a layer without its own normalisation (f: one of :data:`ACTIVATIONS`)."""

    def __init__(
        self,
        layer: nn.Module,
        hidden: int,
        *,
        batch_norm: bool,
        residual: bool,
        dropout: float,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        self.layer = layer
        self.f = ACTIVATIONS[activation]
        self.bn = BatchNorm(hidden) if batch_norm else nn.Identity()
        self.residual = residual
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, h: Tensor, node_scale: Tensor | None) -> Tensor:
        if node_scale is not None:
            h = h * node_scale.unsqueeze(-1)  # [N, d]
        h = self.f(self.bn(h))  # [N, d]
        return self.drop(x + h if self.residual else h)


class GraphNet(nn.Module):
    """``forward(batch) -> [B, out]`` (graph), ``[N, out]`` (node) or ``[E, out]`` (edge) outputs."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.spec = s = spec
        self.input_drop = nn.Dropout(s.input_dropout)
        self.embed_h = _embedding(s.in_dim, s.node_vocab, s.hidden)
        self.embed_pe = nn.Linear(s.pe_dim, s.hidden) if s.pe_dim > 0 else None
        self.layers = nn.ModuleList()
        if s.layer == "gated_gcn":
            self.embed_e = (
                _embedding(s.edge_in_dim, s.edge_vocab, s.hidden)
                if (s.edge_in_dim or s.edge_vocab)
                else nn.Embedding(1, s.hidden)
            )
            for _ in range(s.layers):
                self.layers.append(
                    GatedGCNLayer(
                        s.hidden, batch_norm=s.batch_norm, residual=s.residual, dropout=s.dropout, impl=s.impl
                    )
                )
        else:
            make = {
                "gcn": lambda: GCNLayer(
                    s.hidden, s.hidden, activation=None, norm=s.gcn_norm, impl=s.impl, self_weight=s.gcn_self_weight
                ),
                "graph_attention": lambda: GraphAttention(s.hidden, heads=s.heads, impl=s.impl),
                "attention": lambda: SelfAttention(s.hidden, heads=s.heads),
                "mlp": lambda: MLPLayer(s.hidden, s.hidden),
            }[s.layer]
            for _ in range(s.layers):
                self.layers.append(
                    _Block(
                        make(),
                        s.hidden,
                        batch_norm=s.batch_norm,
                        residual=s.residual,
                        dropout=s.dropout,
                        activation=s.attention_activation,
                    )
                )
        self.head_drop = nn.Dropout(s.head_dropout)
        self.head = MLPReadout(2 * s.hidden if s.level == "edge" else s.hidden, s.out_dim, halvings=s.head_layers)

    def edge_input(self, batch: Batch, edges: Tensor | None = None) -> Tensor:
        """The gated layers' input edge state e⁰ of the batch's edges, or of the edge ids ``edges`` only: ``[E, hidden]``."""
        if batch.edge_attr is not None and (self.spec.edge_in_dim or self.spec.edge_vocab):
            return self.embed_e(batch.edge_attr if edges is None else batch.edge_attr[edges])  # [E, hidden]
        weight = self.get_parameter("embed_e.weight")  # [1, hidden]
        return weight.expand(batch.num_edges if edges is None else len(edges), -1)  # the same state, every edge

    def node_input(self, batch: Batch) -> Tensor:
        """The input node state h⁰ (embedding, plus the positional encoding's): ``[N, hidden]``."""
        h = self.embed_h(self.input_drop(batch.x))  # [N, hidden]
        if self.embed_pe is not None:
            h = h + self.embed_pe(self._positions(batch))  # [N, hidden]
        return h

    def size_scales(self, batch: Batch, dtype: torch.dtype) -> tuple[Tensor | None, Tensor | None]:
        """``1/√|V|`` per node ``[N]`` and ``1/√|E|`` per edge ``[E]`` of their graph with ``graph_size_norm``, else ``None``."""
        if not self.spec.graph_size_norm:
            return None, None
        node_scale = batch.nodes_per_graph.to(dtype).clamp(min=1).rsqrt()[batch.node_graph]  # [N]
        edge_scale = batch.edges_per_graph.to(dtype).clamp(min=1).rsqrt()[batch.edge_graph]  # [E]
        return node_scale, edge_scale

    def forward(self, batch: Batch, *, return_weights: bool = False):
        """With ``return_weights`` also the list of per-layer edge weights: η ``[E, d]`` or a ``[E, H]``
        (with ``self_loops``: ``[E + N, ...]``, the batch's edges, then the loop ``i -> i`` of each node)."""
        s = self.spec
        h = self.node_input(batch)  # [N, hidden]
        node_scale, edge_scale = self.size_scales(batch, h.dtype)  # [N], [E] or None
        weights: list[Tensor] = []
        if s.layer == "gated_gcn":
            e = self.edge_input(batch)  # [E, hidden]
            for layer in self.layers:
                # η only when asked for: the fast path never stores it otherwise
                h, e, *eta = layer(
                    h, batch.edge_index, e, node_scale=node_scale, edge_scale=edge_scale, return_weights=return_weights
                )
                weights.extend(eta)
        else:
            edge_index = batch.edge_index  # [2, E]
            if s.self_loops:
                loops = torch.arange(batch.num_nodes, device=edge_index.device).expand(2, -1)  # i -> i: [2, N]
                edge_index = torch.cat([edge_index, loops], dim=1)  # [2, E + N]
            for l, block in enumerate(self.layers):
                h = block(h, self.messages(l, h, edge_index, batch, weights if return_weights else None), node_scale)
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
        assert isinstance(block, _Block), "a gated layer has no separate messages: call it"
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

    def unused_parameters(self) -> list[str]:
        """Names of the parameters that reach no output: the last gated layer's edge batch norm (its edge state
        e' is read by no later layer nor by any readout).  DDP needs ``find_unused_parameters`` exactly then."""
        s = self.spec
        if s.layer != "gated_gcn" or not s.batch_norm:
            return []
        last = f"layers.{s.layers - 1}.bn_e"
        return [f"{last}.{name}" for name, _ in self.get_submodule(last).named_parameters()]

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
