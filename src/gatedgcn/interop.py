"""Conversions to and from networkx and PyTorch Geometric (both optional packages, imported on use).

PyG uses our convention: ``edge_index[0]`` the sender ``j``, ``edge_index[1]`` the receiver ``i``.

* :func:`from_pyg` of a ``Data`` gives a :class:`Graph` (``x`` missing: a constant ``[N, 1]``
  feature, as :func:`from_networkx` gives); its other tensors (``train_mask``, ``val_mask``, any
  node or edge attribute) are kept in ``Graph.extra``.  Of a PyG ``Batch`` it gives our
  :class:`Batch`, each node's graph id kept.
* :func:`to_pyg` gives a ``Data`` with the extras back as attributes.
* :func:`to_networkx` keeps ``x``, ``edge_attr`` and ``y`` (a graph target in ``G.graph["y"]``, node
  targets as node attributes); :func:`from_networkx` reads a graph target back from ``G.graph["y"]``.

An attribute that is not numeric (a string, say) is refused with :class:`GraphError` naming it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from gatedgcn.errors import GraphError
from gatedgcn.graph import Batch, Graph

__all__ = ["from_networkx", "to_networkx", "from_pyg", "to_pyg"]

PYG_FIELDS = ("x", "edge_index", "edge_attr", "y", "pe", "batch", "ptr")


def _numeric(values: list, what: str) -> Tensor:
    """``[R]`` or ``[R, F]`` float tensor of a list of numbers or of equal-length number sequences."""
    try:
        t = torch.tensor(values, dtype=torch.float32)
    except (TypeError, ValueError, RuntimeError):
        bad = next((v for v in values if not isinstance(v, (int, float, list, tuple))), values[0] if values else None)
        raise GraphError(f"{what} must be numbers (or equal-length sequences of numbers), got {bad!r}") from None
    return t


def from_networkx(
    G: Any, *, node_attr: str | None = None, edge_attr: str | None = None, y: Tensor | None = None
) -> Graph:
    """A :class:`Graph` from a networkx graph; an undirected edge becomes two directed ones.

    Nodes are numbered in ``G.nodes`` order.  ``node_attr`` / ``edge_attr`` name a numeric
    attribute (scalar or sequence) to use as features; without ``node_attr`` the graph
    gets a constant ``[N, 1]`` feature.  ``y`` defaults to ``G.graph["y"]`` where there is one.
    """
    index = {v: k for k, v in enumerate(G.nodes)}
    pairs, feats = [], []
    for u, v, data in G.edges(data=True):
        both = [(index[u], index[v])] if G.is_directed() or u == v else [(index[u], index[v]), (index[v], index[u])]
        for p in both:
            pairs.append(p)
            if edge_attr is not None:
                if edge_attr not in data:
                    raise GraphError(f"from_networkx: edge ({u}, {v}) has no attribute {edge_attr!r}")
                feats.append(data[edge_attr])
    edge_index = torch.tensor(pairs, dtype=torch.long).reshape(-1, 2).t().contiguous()  # [2, E]
    if node_attr is None:
        x = torch.ones(G.number_of_nodes(), 1)
    else:
        missing = [v for v in G.nodes if node_attr not in G.nodes[v]]
        if missing:
            raise GraphError(f"from_networkx: node {missing[0]!r} has no attribute {node_attr!r}")
        x = _numeric([G.nodes[v][node_attr] for v in G.nodes], f"from_networkx: node attribute {node_attr!r}")
        x = x[:, None] if x.dim() == 1 else x  # [N, F]
    e = None
    if edge_attr is not None:
        e = _numeric(feats, f"from_networkx: edge attribute {edge_attr!r}").reshape(len(pairs), -1)  # [E, F_e]
    if y is None and "y" in G.graph:
        y = torch.as_tensor(G.graph["y"])
    return Graph(x=x, edge_index=edge_index, edge_attr=e, y=y)


def to_networkx(g: Graph) -> Any:
    """A ``networkx.DiGraph`` with one edge per column of ``edge_index``; ``x``, ``edge_attr`` and ``y`` as attributes
    (node targets ``y [N]`` on the nodes, a graph target in ``G.graph["y"]``)."""
    import networkx as nx

    G = nx.DiGraph()
    node_y = g.y.tolist() if g.y is not None and g.y.dim() == 1 and g.y.shape[0] == g.num_nodes else None  # [N]
    for v in range(g.num_nodes):
        G.add_node(v, x=g.x[v].tolist(), **({"y": node_y[v]} if node_y is not None else {}))
    for k, (j, i) in enumerate(g.edge_index.t().tolist()):
        attrs = {} if g.edge_attr is None else {"edge_attr": g.edge_attr[k].tolist()}
        G.add_edge(j, i, **attrs)
    if g.y is not None and node_y is None:
        G.graph["y"] = g.y.tolist()
    return G


def _extras(data: Any) -> dict[str, Tensor]:
    """The tensors of a PyG object beyond the fields a :class:`Graph` has; a non-tensor attribute is refused."""
    extra = {}
    for key in data.keys():  # noqa: SIM118 (iterating a PyG Data gives (key, value) pairs)
        if key in PYG_FIELDS or key == "num_nodes":
            continue
        value = data[key]
        if not isinstance(value, Tensor):
            raise GraphError(
                f"from_pyg: attribute {key!r} is a {type(value).__name__} ({value!r:.40}), not a tensor; "
                "drop it or turn it into numbers"
            )
        extra[key] = value
    return extra


def _pyg_x(data: Any) -> Tensor:
    x = getattr(data, "x", None)
    return torch.ones(int(data.num_nodes), 1) if x is None else x  # no features: a constant one


def from_pyg(data: Any) -> Graph | Batch:
    """A :class:`Graph` of a ``torch_geometric.data.Data`` (extras kept), or our :class:`Batch` of a PyG ``Batch``."""
    if getattr(data, "batch", None) is not None and hasattr(data, "num_graphs"):
        return _from_pyg_batch(data)
    return Graph(
        x=_pyg_x(data),
        edge_index=data.edge_index,
        edge_attr=getattr(data, "edge_attr", None),
        y=getattr(data, "y", None),
        pe=getattr(data, "pe", None),
        name="pyg",
        extra=_extras(data),
    )


def _from_pyg_batch(data: Any) -> Batch:
    node_graph = data.batch.long()  # [N]
    B = int(data.num_graphs)
    x = _pyg_x(data)
    Graph(x=x, edge_index=data.edge_index, edge_attr=getattr(data, "edge_attr", None), name="pyg batch")  # checks
    nodes = torch.bincount(node_graph, minlength=B)  # [B]
    edges = (
        torch.bincount(node_graph[data.edge_index[0]], minlength=B)
        if data.edge_index.numel()
        else torch.zeros(B, dtype=torch.long)
    )
    return Batch(
        x=x,
        edge_index=data.edge_index,
        edge_attr=getattr(data, "edge_attr", None),
        y=getattr(data, "y", None),
        node_graph=node_graph,
        nodes_per_graph=nodes,
        edges_per_graph=edges,
        pe=getattr(data, "pe", None),
    )


def to_pyg(g: Graph) -> Any:
    """A ``torch_geometric.data.Data`` (the extras as attributes); needs the optional PyTorch Geometric package."""
    try:
        from torch_geometric.data import Data
    except ImportError as err:
        raise ImportError("to_pyg needs PyTorch Geometric: pip install 'gatedgcn[pyg]'") from err
    fields = {"edge_attr": g.edge_attr, "y": g.y, "pe": g.pe}
    return Data(
        x=g.x,
        edge_index=g.edge_index,
        num_nodes=g.num_nodes,
        **{k: v for k, v in fields.items() if v is not None},
        **g.extra,
    )
