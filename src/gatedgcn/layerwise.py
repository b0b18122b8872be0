"""Layer-wise full-graph inference in chunks: the node outputs of one big graph without the whole-graph
activations of every layer at once.

Layer ``l`` is computed for every node before layer ``l + 1``, the receivers ``i`` taken ``chunk`` at a time:

    h^{l+1}_i = layer_l(h^l_i, {h^l_j, e^l_ij : j -> i})        for the receivers i of one chunk

A chunk needs only its receivers' in-edges and the rows of the previous node table ``h^l [N, d]`` of the
nodes they touch; it is run through the layer's own ``forward`` on that small subgraph (receivers plus
senders, renumbered), and only the receivers' rows are kept.  Memory: the node tables and one chunk's
edges, O(N·d + E_chunk·d), instead of the whole-graph forward's O(E·d) per layer.

The gated layer carries an edge state ``e^l``; keeping it for every edge would cost ``E·d`` (more than the
node tables on any graph with more edges than nodes).  It is not stored: a chunk recomputes its edges'
``e^l`` from ``e⁰`` through layers ``1 .. l`` out of the stored node tables ``h⁰ .. h^{l-1}``
(``e^{k+1}_ij`` depends only on ``e^k_ij``, ``h^k_j`` and ``h^k_i``).  So the gated model keeps ``L``
node tables and does ``L (L + 1) / 2`` edge passes instead of ``L``; the others keep two tables.

The splits of a node task on one graph are that graph with other targets ``y``: :class:`Layerwise`, the
trainer's ``predict``, computes the outputs once per evaluation and scores every split from them.

In eval mode the result equals ``model(batch)`` (up to the order of float sums).  Not for the dense
``attention`` layer (a receiver reads every node), nor for the GCN's ``symmetric`` norm (the weight of
an edge reads the in-degree of its sender, which the chunk does not hold).

Shapes: batch of ``N`` nodes and ``E`` edges (node task) -> ``[N, out]``.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor, nn

from gatedgcn.data.sampling import by_receiver
from gatedgcn.errors import GatedGCNError
from gatedgcn.graph import Batch
from gatedgcn.model import GraphNet

__all__ = ["layerwise", "check_layerwise", "Layerwise", "DEFAULT_CHUNK"]

DEFAULT_CHUNK = 16384  # receivers per chunk when train.inference_chunk is 0


def check_layerwise(model: GraphNet) -> None:
    """:class:`GatedGCNError` naming why ``model`` cannot be evaluated layer by layer, if it cannot."""
    s = model.spec
    if s.level != "node":
        raise GatedGCNError(f"layer-wise inference computes node outputs; this model's task is at the {s.level} level")
    if s.layer in ("attention", "gps"):
        raise GatedGCNError(
            f"layer-wise inference needs a graph layer: the dense attention of the {s.layer} layer reads every node for each receiver"
        )
    if s.ffn:
        raise GatedGCNError("layer-wise inference does not run the FFN blocks (model.ffn): evaluate the whole graph")
    if s.layer == "gcn" and s.gcn_norm == "symmetric":
        raise GatedGCNError(
            "layer-wise inference of the gcn layer needs gcn_norm=mean: the symmetric weight 1/√(d_i d_j) "
            "reads the in-degree of the sender, which a chunk of receivers does not hold"
        )


@torch.no_grad()
def layerwise(model: GraphNet, batch: Batch, chunk: int = DEFAULT_CHUNK) -> Tensor:
    """``model(batch)`` of a node task in eval mode, computed layer by layer, ``chunk`` receivers at a time."""
    check_layerwise(model)
    if model.training:
        raise GatedGCNError(
            "layer-wise inference runs in eval mode (batch statistics of a chunk are not those of the graph): call model.eval()"
        )
    if chunk < 1:
        raise GatedGCNError(f"layer-wise inference: chunk must be >= 1 receivers, got {chunk}")
    N, device = batch.num_nodes, batch.edge_index.device
    order, indptr = by_receiver(batch.edge_index, N)  # [E], [N + 1]
    h0 = model.node_input(batch)  # [N, d]
    node_scale, edge_scale = model.size_scales(batch, h0.dtype)  # [N], [E] or None
    gated = model.spec.layer == "gated_gcn"
    tables = [h0]  # h^0 .. h^l: all of them for the gated layer (its edge state is recomputed), else the last
    local_of = torch.empty(N, dtype=torch.long, device=device)  # node id -> row in the current chunk's subgraph: [N]
    for l, layer in enumerate(model.layers):
        h_next = torch.empty_like(tables[-1])  # [N, d]
        for a in range(0, N, chunk):
            b = min(a + chunk, N)
            span = torch.arange(int(indptr[a]), int(indptr[b]), device=device)  # [E_c]
            edges = span if order is None else order[span]  # the in-edges of receivers a .. b-1: [E_c]
            ends = batch.edge_index[:, edges]  # j, i: [2, E_c]
            receivers = torch.arange(a, b, device=device)  # [C]
            nodes = torch.unique(torch.cat([receivers, ends[0]]))  # receivers and their senders: [n]
            local_of[nodes] = torch.arange(len(nodes), device=device)
            local, mine = (
                local_of[ends],
                local_of[receivers],
            )  # the chunk's edges renumbered [2, E_c], the receivers' rows [C]
            ns = None if node_scale is None else node_scale[nodes]  # [n]
            if gated:
                es = None if edge_scale is None else edge_scale[edges]  # [E_c]
                e = model.edge_input(batch, edges)  # e⁰ of the chunk's edges: [E_c, d]
                for k in range(l):  # e^k of the chunk's edges, from the stored h^k
                    _, e = model.layers[k](tables[k][nodes], local, e, node_scale=ns, edge_scale=es)  # [E_c, d]
                h, _ = layer(tables[l][nodes], local, e, node_scale=ns, edge_scale=es)  # [n, d]
                h_next[a:b] = h[mine]
            else:
                if model.spec.self_loops:
                    local = torch.cat(
                        [local, mine.expand(2, -1)], dim=1
                    )  # and i -> i for the chunk's receivers: [2, E_c + C]
                x = tables[-1][nodes]  # [n, d]
                m = model.messages(l, x, local, batch)[mine]  # the layer's messages to the receivers: [C, d]
                h_next[a:b] = layer(x[mine], m, None if ns is None else ns[mine])
        tables = [*tables, h_next] if gated else [h_next]
    return model.head(model.head_drop(tables[-1]))  # [N, out] (head_drop: identity in eval mode)


def _weights_state(model: nn.Module) -> tuple[tuple[int, int], ...]:
    """Which tensors hold the weights and running statistics, and their in-place version: changes with every update."""
    return tuple((id(t), t._version) for t in (*model.parameters(), *model.buffers()))


def _same_inputs(a: Batch, b: Batch) -> bool:
    """Every field of the two batches but the targets ``y`` is equal."""
    for f in dataclasses.fields(a):
        u, v = getattr(a, f.name), getattr(b, f.name)
        if f.name != "y" and not (
            u is v or (u is not None and v is not None and u.shape == v.shape and torch.equal(u, v))
        ):
            return False
    return True


class Layerwise:
    """The trainer's ``predict(model, batch)``: :func:`layerwise` in chunks of ``chunk`` receivers, once for all
    the splits of one graph.  The outputs of the last call are reused while the inputs (the batch but ``y``) and
    the model's weights and buffers (the same tensors, not changed in place since) are the same: an evaluation
    of val and test (and train) runs the layers once; an update in between makes the next call compute anew."""

    def __init__(self, chunk: int = DEFAULT_CHUNK) -> None:
        self.chunk = chunk
        self.last: tuple[Batch, tuple[tuple[int, int], ...], Tensor] | None = (
            None  # inputs, weights' state, outputs [N, out]
        )

    def __call__(self, model: GraphNet, batch: Batch) -> Tensor:
        state = _weights_state(model)
        if self.last is not None and self.last[1] == state and _same_inputs(self.last[0], batch):
            return self.last[2]
        out = layerwise(model, batch, self.chunk)  # [N, out]
        self.last = (batch, state, out)
        return out
