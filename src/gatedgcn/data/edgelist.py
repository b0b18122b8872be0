"""An edge list, with the node table beside it: one graph, and the node-classification dataset on it.

    source, target[, f_1, ..., f_k]      one edge j -> i per line: node ids 0..N-1, or any strings (mapped to
                                         node numbers: the node table's order, else the order of first use);
                                         the extra columns are float edge features; an undirected edge is
                                         listed both ways

Without a node table (:mod:`gatedgcn.data.nodetable`) the graph has ``max id + 1`` nodes (integer ids) or one node
per distinct id (strings), each with the feature 1.  An edge list with labels is a full-graph node
classification task: each split holds the graph with the labels of the other splits set to -1.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gatedgcn.data.dataset import Dataset, Task
from gatedgcn.data.nodetable import NodeTable, node_table_of, read_node_table
from gatedgcn.data.splits import choose_split, mask_labels
from gatedgcn.data.tables import check_node_count, check_width, is_int, number, read_rows, split_header, user_path
from gatedgcn.errors import DataError
from gatedgcn.graph import Graph

__all__ = ["EdgeList", "build_edgelist", "read_edge_file", "read_edgelist"]

ENDS = ("source", "target")


@dataclass(frozen=True)
class EdgeList:
    """The graph of an edge list; ``names``: node k's id as written (None: integer ids, node k is id k);
    ``classes``: the label names, class c the c-th (None: integer labels or none)."""

    graph: Graph
    names: list[str] | None = None
    classes: list[str] | None = None


def _integer_ends(ends: list[list[str]], lines: list[int], path: Path) -> np.ndarray:
    """Integer ids as ``[E, 2]`` int64, each >= 0 and within 64 bits."""
    pairs = [[number(f, path, line, k, int) for k, f in enumerate(pair)] for pair, line in zip(ends, lines)]
    bad = next((k for k, pair in enumerate(pairs) if min(pair) < 0), None)
    if bad is not None:
        raise DataError(f"{path}:{lines[bad]}: node ids must be >= 0, got {pairs[bad]}")
    try:
        return np.array(pairs, dtype=np.int64).reshape(-1, 2)  # [E, 2]
    except OverflowError:
        k = next(k for k, pair in enumerate(pairs) if max(pair) >= 2**63)
        raise DataError(f"{path}:{lines[k]}: node id {max(pairs[k])} does not fit in 64 bits") from None


def _named_ends(ends: list[list[str]], lines: list[int], path: Path, index: dict[str, int], table: Path | None):
    """String ids as node numbers ``[E, 2]``: the table's (an id not in it is refused), else numbered in order
    of first use (``index`` grows)."""
    out = np.empty((len(ends), 2), dtype=np.int64)
    for k, (pair, line) in enumerate(zip(ends, lines)):
        for c, node in enumerate(pair):
            if node == "":
                raise DataError(f"{path}:{line}: column {c + 1} ({ENDS[c]}): the node id is empty")
            if node not in index:
                if table is not None:
                    raise DataError(f"{path}:{line}: column {c + 1} ({ENDS[c]}): node id {node!r} is not in {table}")
                index[node] = len(index)
            out[k, c] = index[node]
    return out


def _node_ids(ends, lines, path: Path, table: NodeTable | None, table_path: Path | None):
    """The edges' node numbers ``[E, 2]``, the node table's x and y (or ones and None), and the node names."""
    integers = all(is_int(f) for pair in ends for f in pair) and (table is None or table.names is None)
    if integers:
        pairs = _integer_ends(ends, lines, path)
        if table is not None:
            outside = np.flatnonzero(pairs.max(1) >= len(table.x))
            if len(outside):
                k = int(outside[0])
                raise DataError(
                    f"{path}:{lines[k]}: node id {int(pairs[k].max())} is not in the node table {table_path} "
                    f"({len(table.x)} nodes)"
                )
            return pairs, table.x, table.y, None
        top = int(pairs.max()) if len(pairs) else 0
        k = int(np.argmax(pairs.max(1))) if len(pairs) else 0
        check_node_count(top + 1, len(pairs), f"{path}:{lines[k]}: node id {top:,}")
        return pairs, np.ones((top + 1, 1), dtype=np.float32), None, None
    index = {} if table is None else table.index()
    pairs = _named_ends(ends, lines, path, index, table_path)
    if table is not None:
        return pairs, table.x, table.y, table.names or [str(k) for k in range(len(table.x))]
    return pairs, np.ones((len(index), 1), dtype=np.float32), None, list(index)


def read_edge_file(path: str | Path, *, nodes: str | Path | None = None, classes: list[str] | None = None) -> EdgeList:
    """The graph of an edge list and (optionally) its node table (``y`` = node labels if the table has them), with
    the names of its nodes and classes; ``classes``: the names the labels must be among (a run's)."""
    path = Path(path)
    header, rows = split_header(read_rows(path), 2)
    if not rows:
        raise DataError(f"{path}: has a header but no edges")
    width = len(header) if header else len(rows[0][1])
    if width < 2:
        raise DataError(f"{path}:{rows[0][0]}: expected at least 2 columns (source, target), got {width}")
    ends, feats, lines = [], [], []
    for lineno, fields in rows:
        check_width(fields, width, path, lineno)
        ends.append(fields[:2])
        feats.append([number(f, path, lineno, k + 2, float) for k, f in enumerate(fields[2:])])
        lines.append(lineno)
    table_path = None if nodes is None else Path(nodes)
    table = None if table_path is None else read_node_table(table_path, classes=classes)
    pairs, x, y, names = _node_ids(ends, lines, path, table, table_path)
    graph = Graph(
        x=torch.from_numpy(x),
        edge_index=torch.from_numpy(pairs.T.copy()),  # [2, E]
        edge_attr=torch.tensor(feats, dtype=torch.float32) if width > 2 else None,  # [E, k]
        y=None if y is None else torch.from_numpy(y),
        name=path.name,
    )
    return EdgeList(graph, names, None if table is None else table.classes)


def read_edgelist(path: str | Path, *, nodes: str | Path | None = None) -> Graph:
    """The graph of :func:`read_edge_file` alone."""
    return read_edge_file(path, nodes=nodes).graph


def build_edgelist(*, path: str | Path | None, seed: int = 0, folds: int = 0, fold: int = 0, **_: object) -> Dataset:
    """Node classification on one graph from an edge list and its labelled node table; string node ids and class
    names are kept in ``info`` (``node_names``, ``classes``) for prediction to write them back."""
    edges = user_path(path, "edgelist")
    table = node_table_of(edges)
    read = read_edge_file(edges, nodes=table)
    graph = read.graph
    if graph.y is None:
        raise DataError(f"{edges}: training needs node labels: a node table nodes.csv beside it with a 'label' column")
    labelled = torch.nonzero(graph.y >= 0).squeeze(1).numpy()  # labelled nodes: [L]
    if len(labelled) < 3:
        raise DataError(f"{table}: needs at least 3 labelled nodes (one per split), got {len(labelled)}")
    split = choose_split(graph.y.numpy()[labelled], folds=folds, fold=fold, seed=seed)
    info: dict = {"nodes": graph.num_nodes, "edges": graph.num_edges}
    if read.classes is not None:
        info.update(classes=read.classes, class_names=True)
    if read.names is not None:
        info["node_names"] = read.names
    return Dataset(
        name=edges.name,
        task=Task(level="node", kind="classification", num_outputs=int(graph.y.max()) + 1, metric="accuracy"),
        splits={part: [mask_labels(graph, labelled[index])] for part, index in split.items()},
        in_dim=graph.x.shape[1] if graph.x.is_floating_point() else 0,
        node_vocab=0 if graph.x.is_floating_point() else int(graph.x.max()) + 1,  # an integer column x: categories
        edge_in_dim=0 if graph.edge_attr is None else graph.edge_attr.shape[1],
        info=info,
    )
