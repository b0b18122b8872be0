"""A look inside the gates: one weight per edge of a graph, read from a chosen layer of a model.

    gated GCN:        the mean over the channels of η_ij = σ(ê_ij) / (Σ_k σ(ê_ik) + ε)
    graph attention:  the mean over the heads of a_ij = softmax_{j→i}(β k_j·q_i)
    GCN:              a_ij / d_i (or 1/√(d_i d_j)), fixed by the graph
    self-attention:   the mean over the heads of a_ij, read on the graph's edges only
    GPS:              both: the gates η_ij of its gated GCN (``part="gates"``) and the mean over the heads of its
                      attention's a_ij read on the graph's edges (``part="attention"``); ``explain_run`` draws both

The weights are those the model returns with ``return_weights=True`` for a batch holding the
one graph, in eval mode, one per edge ``j -> i`` (sender ``j``, receiver ``i``) in ``edge_index`` order.
The pictures: :mod:`gatedgcn.app.drawing`; ``gatedgcn explain``: :mod:`gatedgcn.app.explain`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from gatedgcn.errors import GatedGCNError, GraphError
from gatedgcn.graph import Graph, collate
from gatedgcn.model import GraphNet

__all__ = ["SYMBOL", "GPS_PARTS", "Explanation", "edge_weights", "explain", "neighbourhood"]

SYMBOL = {"gated_gcn": "mean η_ij", "graph_attention": "mean a_ij", "gcn": "a_ij / d_i", "attention": "mean a_ij"}
GPS_PARTS = {"gates": "GPS gates: mean η_ij", "attention": "GPS attention: mean a_ij"}  # a gps layer's two weights


@dataclass(frozen=True)
class Explanation:
    """A graph, the layer looked at, one weight per edge (in ``edge_index`` order) and the prediction.

    Shapes: weights ``[E]``, out ``[C]`` (the model's output for the graph; ``[N, C]`` / ``[E, C]``
    for node and edge tasks).
    """

    graph: Graph
    layer: int
    weights: Tensor
    out: Tensor
    symbol: str
    focus: int | None = None  # the node asked about (node tasks)
    relative: bool = False  # weights multiplied by the in-degree d_i of their receiver (1 = the GCN's 1/d_i)


def edge_weights(weights: Tensor, edge_index: Tensor) -> Tensor:
    """One number per edge from a layer's weights: η ``[E, d]`` / a ``[E, H]`` -> mean, a ``[E]`` as is,
    dense a ``[1, H, T, T]`` -> the mean over heads of ``a[i, j]`` for each edge ``j -> i``."""
    if weights.dim() == 4:
        j, i = edge_index  # senders, receivers: [E]
        return weights[0].mean(0)[i, j]  # [E]
    return weights.mean(-1) if weights.dim() == 2 else weights  # [E]


def explain(
    model: GraphNet, graph: Graph, layer: int = -1, *, relative: bool = False, part: str = "gates"
) -> Explanation:
    """The weights of layer ``layer`` (negative: from the last) of ``model`` on ``graph``, in eval mode; of a gps
    layer those of ``part``: ``gates`` (η of its gated GCN) or ``attention`` (a of its self-attention).

    With ``relative`` each weight is multiplied by the in-degree ``d_i`` of its receiver: 1 where the
    layer weighs the senders as the GCN does (``1/d_i``), above 1 where it listens more to that sender.
    """
    if model.spec.layer not in SYMBOL and model.spec.layer != "gps":
        raise GatedGCNError(f"the {model.spec.layer!r} layer reads no edge: it has no weights to explain")
    L = len(model.layers)
    if not -L <= layer < L:
        raise GatedGCNError(f"--layer {layer}: the model has {L} layers (0..{L - 1}, or -1 for the last)")
    model.eval()
    device = next(model.parameters()).device
    with torch.no_grad():
        out, weights = model(collate([graph]).to(device), return_weights=True)
    raw = weights[layer]
    if model.spec.layer == "gps":
        if part not in GPS_PARTS:
            raise GatedGCNError(f"part {part!r}: a gps layer has the parts {', '.join(GPS_PARTS)}")
        raw = raw[list(GPS_PARTS).index(part)]  # η [E, d] or a [1, H, T, T]
    raw = raw.double().cpu()
    if raw.dim() <= 2:  # per edge; with model.self_loops the loops i -> i follow the graph's E edges
        raw = raw[: graph.num_edges]
    w = edge_weights(raw, graph.edge_index)  # [E]
    symbol = GPS_PARTS[part] if model.spec.layer == "gps" else SYMBOL[model.spec.layer]
    if relative:
        d = graph.in_degree().double()  # d_i: [N]
        w, symbol = w * d[graph.edge_index[1]], f"d_i · {symbol} (1: the GCN's 1/d_i)"  # [E]
    out = out.cpu().squeeze(0) if model.spec.level == "graph" else out.cpu()
    return Explanation(graph, layer % L, w, out, symbol, relative=relative)


def neighbourhood(explanation: Explanation, node: int, hops: int) -> Explanation:
    """The part of an explanation within ``hops`` steps upstream of ``node`` (its receptive field)."""
    g = explanation.graph
    if not 0 <= node < g.num_nodes:
        raise GraphError(f"--node {node}: {g.name} has nodes 0..{g.num_nodes - 1}")
    keep = torch.zeros(g.num_nodes, dtype=torch.bool)
    keep[node] = True
    j, i = g.edge_index
    for _ in range(hops):
        keep = keep | torch.zeros_like(keep).index_fill(0, j[keep[i]], True)  # add the senders of kept receivers
    nodes = keep.nonzero().squeeze(1)  # [n]
    new_id = torch.full((g.num_nodes,), -1, dtype=torch.long).index_copy(0, nodes, torch.arange(len(nodes)))  # [N]
    edges = keep[j] & keep[i]  # [E]
    sub = Graph(x=g.x[nodes], edge_index=new_id[g.edge_index[:, edges]], name=f"{g.name} around node {node}")
    out = (
        explanation.out[node]
        if explanation.out.dim() == 2 and explanation.out.shape[0] == g.num_nodes
        else explanation.out
    )
    return Explanation(
        sub,
        explanation.layer,
        explanation.weights[edges],
        out,
        explanation.symbol,
        int(new_id[node]),
        explanation.relative,
    )
