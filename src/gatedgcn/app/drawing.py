"""The pictures of an explanation: a graph drawn with each edge coloured by its weight (an arrow from the sender
``j`` to the receiver ``i``; both directions of an undirected edge bent apart; a self-loop colours its node), one
graph with a colour bar, or a gallery of one graph per class on a shared scale.  Drawn with networkx on a matplotlib
Figure (Agg canvas, no pyplot).
"""

from __future__ import annotations

from collections.abc import Sequence

import networkx as nx
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize, TwoSlopeNorm
from matplotlib.figure import Figure

from gatedgcn.app.explanation import Explanation
from gatedgcn.errors import GraphError

__all__ = ["CMAP", "CMAP_RELATIVE", "colour_scale", "draw", "figure", "gallery"]

CMAP = "viridis"  # weights from 0 up
CMAP_RELATIVE = "coolwarm"  # d_i times the weight: blue below the GCN's 1/d_i, red above


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


def gallery(explanations: Sequence[Explanation], classes: Sequence[str], *, columns: int = 4) -> Figure:
    """One panel per explanation (one graph per class), a shared colour scale."""
    rows = -(-len(explanations) // columns)
    fig = Figure(figsize=(3.2 * columns + 1.2, 3.2 * rows), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False)
    cmap_name, norm = colour_scale(explanations)
    for ax, x in zip(axes.flat, explanations):
        if x.graph.y is None:
            raise GraphError(f"gallery: {x.graph.name} has no class label (a graph target y of one integer)")
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
