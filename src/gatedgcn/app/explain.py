"""A look inside the gates: a graph drawn with each edge coloured by its weight in a chosen layer.

    gated GCN:        the mean over the channels of η_ij = σ(ê_ij) / (Σ_k σ(ê_ik) + ε)
    graph attention:  the mean over the heads of a_ij = softmax_{j→i}(β k_j·q_i)
    GCN:              a_ij / d_i (or 1/√(d_i d_j)), fixed by the graph
    self-attention:   the mean over the heads of a_ij, read on the graph's edges only
    GPS:              both: the gates η_ij of its gated GCN (``part="gates"``) and the mean over the heads of its
                      attention's a_ij read on the graph's edges (``part="attention"``); ``explain_run`` draws both

The weights are those the model returns with ``return_weights=True`` for a batch holding the
one graph, in eval mode.  An edge ``j -> i`` is drawn as an arrow from the sender to the
receiver (both directions of an undirected edge, bent apart); a self-loop ``i -> i`` colours
its node.  Drawn with networkx on a matplotlib Figure (Agg canvas, no pyplot).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import torch
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize, TwoSlopeNorm
from matplotlib.figure import Figure
from torch import Tensor

from gatedgcn.app.plot import save_figure
from gatedgcn.app.predict import load
from gatedgcn.errors import GatedGCNError, GraphError
from gatedgcn.graph import Graph, collate
from gatedgcn.model import GraphNet

__all__ = [
    "CMAP",
    "CMAP_RELATIVE",
    "Explanation",
    "explain",
    "neighbourhood",
    "colour_scale",
    "draw",
    "figure",
    "gallery",
    "class_examples",
    "explain_run",
]

CMAP = "viridis"  # weights from 0 up
CMAP_RELATIVE = "coolwarm"  # d_i times the weight: blue below the GCN's 1/d_i, red above
MAX_DRAWN_NODES = 400  # a larger graph is a hairball: ask for a node's neighbourhood instead
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


def colour_scale(explanations: Sequence[Explanation]) -> tuple[str, Normalize]:
    """Colour map and normalisation shared by ``explanations``: 0 to the largest weight, or centred on 1 (relative)."""
    lo = min(float(x.weights.min()) for x in explanations)
    hi = max(float(x.weights.max()) for x in explanations)
    if explanations[0].relative:
        return CMAP_RELATIVE, TwoSlopeNorm(1.0, min(lo, 0.999), max(hi, 1.001))
    return CMAP, Normalize(0.0, max(hi, 1e-12))


def draw(ax: Axes, explanation: Explanation, norm: Normalize, cmap_name: str = CMAP) -> tuple[list, object]:
    """Draw on ``ax``; returns the edge arrows (in the order of the non-loop edges) and the node collection."""
    g = explanation.graph
    j, i = g.edge_index.tolist()
    w = explanation.weights.tolist()
    loops = {a: wk for a, b, wk in zip(j, i, w) if a == b}
    arcs = [(a, b, wk) for a, b, wk in zip(j, i, w) if a != b]
    G = nx.DiGraph()
    G.add_nodes_from(range(g.num_nodes))
    G.add_edges_from((a, b) for a, b, _ in arcs)
    pos = nx.kamada_kawai_layout(G.to_undirected()) if g.num_nodes > 1 else {0: (0.0, 0.0)}
    cmap = colormaps[cmap_name]
    node_colours = [cmap(norm(loops[v])) if v in loops else (0.85, 0.85, 0.85, 1.0) for v in range(g.num_nodes)]
    nodes = nx.draw_networkx_nodes(
        G, pos, ax=ax, node_size=140, node_color=node_colours, edgecolors="black", linewidths=0.5
    )
    if explanation.focus is not None:
        nx.draw_networkx_nodes(
            G,
            pos,
            ax=ax,
            nodelist=[explanation.focus],
            node_size=320,
            node_color="none",
            edgecolors="red",
            linewidths=1.5,
        )
    arrows = nx.draw_networkx_edges(
        G,
        pos,
        ax=ax,
        edgelist=[(a, b) for a, b, _ in arcs],
        edge_color=[cmap(norm(wk)) for _, _, wk in arcs],
        arrows=True,
        arrowstyle="-|>",
        arrowsize=8,
        width=1.6,
        connectionstyle="arc3,rad=0.12",
        node_size=140,
    )
    ax.set_axis_off()
    return list(arrows), nodes


def _colorbar(fig: Figure, axes, cmap_name: str, norm: Normalize, label: str) -> None:
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap_name), ax=axes, shrink=0.8, label=label)


def figure(explanation: Explanation, title: str = "") -> Figure:
    """One graph, its edges coloured by weight, with a colour bar."""
    fig = Figure(figsize=(6.4, 5.2), layout="constrained")
    ax = fig.subplots()
    cmap_name, norm = colour_scale([explanation])
    draw(ax, explanation, norm, cmap_name)
    ax.set_title(title or f"{explanation.graph.name}: layer {explanation.layer}", fontsize=10)
    _colorbar(fig, ax, cmap_name, norm, f"{explanation.symbol} (layer {explanation.layer}; node colour: self-loop)")
    return fig


def class_examples(graphs: Sequence[Graph], num_classes: int) -> list[Graph]:
    """The first graph of each class (graph targets ``y``), in class order."""
    first: dict[int, Graph] = {}
    for g in graphs:
        if g.y is None or g.y.dim() != 0:
            raise GraphError(f"gallery: {g.name} has no class label (a graph target y of one integer)")
        first.setdefault(int(g.y), g)
    missing = [c for c in range(num_classes) if c not in first]
    if missing:
        raise GatedGCNError(f"gallery: no graph of class {missing[0]} in the split")
    return [first[c] for c in range(num_classes)]


def gallery(explanations: Sequence[Explanation], classes: Sequence[str], *, columns: int = 4) -> Figure:
    """One panel per explanation (one graph per class), a shared colour scale."""
    rows = -(-len(explanations) // columns)
    fig = Figure(figsize=(3.2 * columns + 1.2, 3.2 * rows), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False)
    cmap_name, norm = colour_scale(explanations)
    for ax, x in zip(axes.flat, explanations):
        draw(ax, x, norm, cmap_name)
        target = int(x.graph.y)
        pred = int(x.out.argmax())
        ax.set_title(
            f"{classes[target]} (n={x.graph.num_nodes})\npredicted: {classes[pred]}",
            fontsize=9,
            color="black" if pred == target else "red",
        )
    for ax in list(axes.flat)[len(explanations) :]:
        ax.set_axis_off()
    _colorbar(
        fig, axes, cmap_name, norm, f"{explanations[0].symbol}, layer {explanations[0].layer} (node colour: self-loop)"
    )
    return fig


def explain_run(
    run_dir: str | Path,
    *,
    graph: int = 0,
    node: int | None = None,
    hops: int | None = None,
    split: str = "test",
    layer: int = -1,
    relative: bool = False,
    gallery_of_classes: bool = False,
    out: str | Path | None = None,
    device: str = "cpu",
) -> list[Path]:
    """``gatedgcn explain``: graph ``graph`` of ``split`` (around ``node``), or a gallery of one graph per class."""
    run = load(run_dir, device=device)
    graphs = run.dataset.splits.get(split) or []
    if not graphs:
        raise GatedGCNError(
            f"--split {split}: the dataset {run.config.data.name} has no graphs there; splits: {', '.join(k for k, v in run.dataset.splits.items() if v)}"
        )
    classes = run.dataset.info.get("classes")
    if gallery_of_classes:
        if run.dataset.task.level != "graph" or run.dataset.task.kind != "classification":
            raise GatedGCNError("--gallery needs a graph classification dataset (one graph per class)")
        names = classes or [str(c) for c in range(run.dataset.task.num_outputs)]
        examples = [explain(run.model, g, layer, relative=relative) for g in class_examples(graphs, len(names))]
        stem = f"gallery-layer{examples[0].layer}" + ("-relative" if relative else "")
        return save_figure(gallery(examples, names), out or run.run.path / stem, formats=("png",))
    if not 0 <= graph < len(graphs):
        raise GatedGCNError(f"--graph {graph}: the {split} split has graphs 0..{len(graphs) - 1}")
    parts = list(GPS_PARTS) if run.model.spec.layer == "gps" else [""]  # a gps layer: its gates and its attention
    paths: list[Path] = []
    for part in parts:
        x = explain(run.model, graphs[graph], layer, relative=relative, part=part or "gates")
        if node is not None:
            x = neighbourhood(x, node, min(2, len(run.model.layers)) if hops is None else hops)
        if x.graph.num_nodes > MAX_DRAWN_NODES:
            raise GatedGCNError(
                f"{x.graph.name} has {x.graph.num_nodes:,} nodes, too many to draw (at most {MAX_DRAWN_NODES}); "
                "draw a node's neighbourhood: --node V --hops 1"
            )
        name = (
            f"explain-{split}{graph}"
            + (f"-node{node}" if node is not None else "")
            + f"-layer{x.layer}"
            + (f"-{part}" if part else "")
            + ("-relative" if relative else "")
        )
        target = run.run.path / name if out is None else Path(out)
        if out is not None and part:  # one file per part beside the name asked for
            target = target.with_suffix("") if target.suffix.lower() in (".png", ".svg") else target
            target = target.with_name(f"{target.name}-{part}")
        paths += save_figure(figure(x), target, formats=("png",))
    return paths
