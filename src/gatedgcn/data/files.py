"""Plain files a user writes by hand: an edge list with a node table, and JSON lines of graphs.

Edge list (``.csv``: commas, ``.tsv``: tabs; white space is accepted too)::

    source, target[, f_1, ..., f_k]      one edge j -> i per line, 0-based integer node ids;
                                         the extra columns are float edge features
    a first line whose ids are not integers is a header; an undirected edge is listed both ways

Node table, ``nodes.csv`` or ``nodes.tsv`` beside the edge list (optional)::

    id, f_1, ..., f_m[, label]           one line per node 0..N-1 (any order); float features;
                                         with a header, a column named ``label`` or ``y`` holds
                                         integer classes (-1 or empty: unlabelled)

Without a node table the graph has ``max id + 1`` nodes, each with the feature 1.
An edge list with labels is a full-graph node classification task: each split holds the
graph with the labels of the other splits set to -1.

JSON lines, one graph per line::

    {"num_nodes": 3, "edge_index": [[0, 1], [1, 2]], "x": [[0.5], [1], [2]], "edge_attr": [[1], [1]], "y": 1}

``edge_index`` is ``[senders, receivers]``; ``num_nodes`` may be left out when ``x`` is given (one row per node);
``x`` (``[N, F]`` floats, or a flat list of integers: one category id per node; default a column of ones),
``edge_attr`` (``[E, F_e]`` floats) and ``y`` are optional.  ``y`` is an integer class for
graph classification, or a number / list of numbers for graph regression.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gatedgcn.data.dataset import Dataset, Task
from gatedgcn.data.splits import choose_split, mask_labels
from gatedgcn.data.textfile import parse_number, read_text, shown, split_row
from gatedgcn.errors import ConfigError, DataError, GraphError
from gatedgcn.graph import Graph

__all__ = ["read_edgelist", "read_node_table", "node_table_of", "read_jsonl", "build_edgelist", "build_jsonl"]

LABEL_COLUMNS = ("label", "y")


def _rows(path: Path) -> list[tuple[int, list[str]]]:
    """Non-blank lines of a CSV/TSV file as ``(line number, fields)``; tabs or commas separate fields."""
    rows = []
    for lineno, line in enumerate(read_text(path).splitlines(), start=1):
        fields = [f.strip() for f in line.split("\t")] if "\t" in line else [f.strip() for f in line.split(",")]
        if len(fields) == 1:
            fields = split_row(line)
        if any(fields):
            rows.append((lineno, fields))
    if not rows:
        raise DataError(f"{path}: file is empty")
    return rows


def _is_int(text: str) -> bool:
    return text.lstrip("+-").isdigit()


def _header(rows: list[tuple[int, list[str]]], id_columns: int) -> tuple[list[str] | None, list[tuple[int, list[str]]]]:
    """Split off a header: the first row whose id columns are not all integers."""
    first = rows[0][1]
    if all(_is_int(f) for f in first[:id_columns]):
        return None, rows
    return [f.lower() for f in first], rows[1:]


def _number(text: str, path: Path, lineno: int, column: int, kind: type) -> Any:
    return parse_number(text, kind, f"{path}:{lineno}: column {column + 1}")


def _check_width(fields: list[str], width: int, path: Path, lineno: int) -> None:
    if len(fields) != width:
        raise DataError(f"{path}:{lineno}: expected {width} columns, got {len(fields)}")


def read_node_table(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Node features and labels (-1: unlabelled, or ``None`` without a label column).

    Shapes: -> x ``[N, F]`` float32 (``F >= 1``; a column of ones when the table has only ids), y ``[N]``.
    """
    header, rows = _header(_rows(path), 1)
    if not rows:
        raise DataError(f"{path}: has a header but no nodes")
    width = len(header) if header else len(rows[0][1])
    label_col = next((k for k, name in enumerate(header or []) if name in LABEL_COLUMNS and k > 0), None)
    ids, feats, labels = [], [], []
    for lineno, fields in rows:
        _check_width(fields, width, path, lineno)
        ids.append((_number(fields[0], path, lineno, 0, int), lineno))
        feats.append([_number(f, path, lineno, k, float) for k, f in enumerate(fields) if k > 0 and k != label_col])
        if label_col is not None:
            text = fields[label_col]
            labels.append(-1 if text == "" else _number(text, path, lineno, label_col, int))
            if labels[-1] < -1:
                raise DataError(
                    f"{path}:{lineno}: label {labels[-1]} is negative (use -1 or leave it empty for no label)"
                )
    N = len(ids)
    seen: dict[int, int] = {}
    for node, lineno in ids:
        if not 0 <= node < N:
            raise DataError(f"{path}:{lineno}: node id {node} out of range [0, {N}) (the table has {N} nodes)")
        if node in seen:
            raise DataError(f"{path}:{lineno}: node id {node} already given on line {seen[node]}")
        seen[node] = lineno
    order = np.argsort([node for node, _ in ids])  # rows sorted by id
    x = np.array(feats, dtype=np.float32).reshape(N, -1)[order]  # [N, F]
    if x.shape[1] == 0:
        x = np.ones((N, 1), dtype=np.float32)
    y = None if label_col is None else np.array(labels, dtype=np.int64)[order]  # [N]
    return x, y


def node_table_of(edge_path: Path) -> Path | None:
    """``nodes.csv`` or ``nodes.tsv`` beside the edge list, if there is one."""
    for name in ("nodes.csv", "nodes.tsv"):
        if (edge_path.parent / name).is_file() and (edge_path.parent / name) != edge_path:
            return edge_path.parent / name
    return None


def read_edgelist(path: str | Path, *, nodes: str | Path | None = None) -> Graph:
    """One graph from an edge list and (optionally) its node table; ``y`` = node labels if the table has them."""
    path = Path(path)
    header, rows = _header(_rows(path), 2)
    if not rows:
        raise DataError(f"{path}: has a header but no edges")
    width = len(header) if header else len(rows[0][1])
    if width < 2:
        raise DataError(f"{path}:{rows[0][0]}: expected at least 2 columns (source, target), got {width}")
    pairs, feats, lines = [], [], []
    for lineno, fields in rows:
        _check_width(fields, width, path, lineno)
        pair = [_number(f, path, lineno, k, int) for k, f in enumerate(fields[:2])]
        if min(pair) < 0:
            raise DataError(f"{path}:{lineno}: node ids must be >= 0, got {pair}")
        pairs.append(pair)
        feats.append([_number(f, path, lineno, k + 2, float) for k, f in enumerate(fields[2:])])
        lines.append(lineno)
    try:
        ends = np.array(pairs, dtype=np.int64)  # [E, 2]
    except OverflowError:
        k = next(k for k, pair in enumerate(pairs) if max(pair) >= 2**63)
        raise DataError(f"{path}:{lines[k]}: node id {max(pairs[k])} does not fit in 64 bits") from None
    if nodes is not None:
        x, y = read_node_table(Path(nodes))
        outside = np.flatnonzero(ends.max(1) >= len(x))
        if len(outside):
            k = int(outside[0])
            raise DataError(
                f"{path}:{lines[k]}: node id {int(ends[k].max())} is not in the node table {nodes} ({len(x)} nodes)"
            )
    else:
        top = int(ends.max())
        k = int(np.argmax(ends.max(1)))
        _check_node_count(top + 1, len(ends), f"{path}:{lines[k]}: node id {top:,}")
        x, y = np.ones((top + 1, 1), dtype=np.float32), None
    edge_attr = torch.tensor(feats, dtype=torch.float32) if width > 2 else None  # [E, k]
    return Graph(
        x=torch.from_numpy(x),
        edge_index=torch.from_numpy(ends.T.copy()),  # [2, E]
        edge_attr=edge_attr,
        y=None if y is None else torch.from_numpy(y),
        name=path.name,
    )


MAX_IMPLIED_NODES = 1 << 24  # nodes a graph may have beyond the ends of its edges, when no features list them


def _check_node_count(n: int, edges: int, what: str) -> None:
    """A graph whose nodes are only implied (no feature rows) may not have more than ``2 E`` nodes, or
    :data:`MAX_IMPLIED_NODES` nodes: a stray large id would otherwise allocate features for every id below it."""
    if n > max(2 * edges, MAX_IMPLIED_NODES):
        raise DataError(
            f"{what} makes a graph of {n:,} nodes ({4 * n / 2**30:,.1f} GiB of features) from {edges:,} edges; "
            f"number the nodes 0..N-1 (or give a node table)"
        )


def _matrix(value: Any, rows: int, field: str, where: str) -> torch.Tensor:
    """A ``[rows, F]`` float tensor from a JSON list of rows (a flat list becomes one column)."""
    try:
        t = torch.tensor(value, dtype=torch.float32)
    except (TypeError, ValueError, RuntimeError, OverflowError):
        raise DataError(f"{where}: {field} must be a list of numbers or of equal-length rows of numbers") from None
    if t.dim() == 1:
        t = t.unsqueeze(-1)  # [rows, 1]
    if t.dim() != 2 or t.shape[0] != rows:
        raise DataError(f"{where}: {field} must have {rows} rows, got shape {list(t.shape)}")
    return t


def _node_features(value: Any, rows: int, where: str) -> torch.Tensor:
    """A flat list of JSON integers is one category id per node ``[N]`` (long); anything else float rows ``[N, F]``."""
    if isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        if len(value) != rows:
            raise DataError(f"{where}: x must have {rows} rows, got {len(value)}")
        if min(value) < 0:
            raise DataError(f"{where}: x holds category ids, which must be >= 0; got {min(value)}")
        return torch.tensor(value, dtype=torch.long)  # [N] category ids
    return _matrix(value, rows, "x", where)


def _graph_from_json(obj: Any, where: str) -> Graph:
    if not isinstance(obj, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    unknown = set(obj) - {"num_nodes", "edge_index", "x", "edge_attr", "y"}
    if unknown:
        raise DataError(f"{where}: unknown field {sorted(unknown)[0]!r}")
    n, ei = obj.get("num_nodes"), obj.get("edge_index")
    if n is None and isinstance(obj.get("x"), list):
        n = len(obj["x"])  # one row of x per node
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise DataError(f"{where}: num_nodes must be a positive integer, got {n!r}")
    if (
        not isinstance(ei, list)
        or len(ei) != 2
        or not all(isinstance(r, list) for r in ei)
        or len(ei[0]) != len(ei[1])
        or not all(isinstance(v, int) and not isinstance(v, bool) for r in ei for v in r)
    ):
        raise DataError(f"{where}: edge_index must be [[senders...], [receivers...]] of integers, of equal length")
    try:
        edge_index = torch.tensor(ei, dtype=torch.long).reshape(2, -1)  # [2, E]
    except (RuntimeError, ValueError, OverflowError):  # an id beyond 64 bits
        raise DataError(f"{where}: edge_index holds an id too large for 64 bits") from None
    if obj.get("x") is None:
        _check_node_count(n, edge_index.shape[1], f"{where}: num_nodes {n:,}")
    x = torch.ones(n, 1) if obj.get("x") is None else _node_features(obj["x"], n, where)
    e = None if obj.get("edge_attr") is None else _matrix(obj["edge_attr"], edge_index.shape[1], "edge_attr", where)
    y = obj.get("y")
    if y is not None:
        if isinstance(y, bool) or not (
            isinstance(y, (int, float))
            or (isinstance(y, list) and y and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in y))
        ):
            raise DataError(f"{where}: y must be an integer class, a number or a list of numbers, got {shown(y)}")
        if isinstance(y, int) and y < 0:
            raise DataError(f"{where}: a class y must be >= 0, got {y}")
        try:
            y = (
                torch.tensor(y) if isinstance(y, int) else torch.tensor(y, dtype=torch.float32).reshape(1, -1)
            )  # [] or [1, k]
        except (OverflowError, RuntimeError):
            raise DataError(f"{where}: y {y!r} does not fit") from None
    try:
        return Graph(x=x, edge_index=edge_index, edge_attr=e, y=y, name=where)
    except GraphError as err:
        raise DataError(str(err)) from None


def read_jsonl(path: str | Path) -> list[Graph]:
    """The graphs of a JSON-lines file, one per non-blank line."""
    path = Path(path)
    graphs = []
    for lineno, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            obj = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as err:
            raise DataError(f"{where}: not valid JSON ({getattr(err, 'msg', err)})") from None
        graphs.append(_graph_from_json(obj, where))
    if not graphs:
        raise DataError(f"{path}: file is empty")
    return graphs


def _user_path(path: str | Path | None, name: str) -> Path:
    if path is None:
        raise ConfigError(f"dataset {name!r} reads the user's file: give it with --data-path or data.path")
    return Path(path)


def build_edgelist(*, path: str | Path | None, seed: int = 0, folds: int = 0, fold: int = 0, **_: object) -> Dataset:
    """Node classification on one graph from an edge list and its labelled node table."""
    edges = _user_path(path, "edgelist")
    table = node_table_of(edges)
    graph = read_edgelist(edges, nodes=table)
    if graph.y is None:
        raise DataError(f"{edges}: training needs node labels: a node table nodes.csv beside it with a 'label' column")
    nodes = torch.nonzero(graph.y >= 0).squeeze(1).numpy()  # labelled nodes: [L]
    if len(nodes) < 3:
        raise DataError(f"{table}: needs at least 3 labelled nodes (one per split), got {len(nodes)}")
    split = choose_split(graph.y.numpy()[nodes], folds=folds, fold=fold, seed=seed)
    return Dataset(
        name=edges.name,
        task=Task(level="node", kind="classification", num_outputs=int(graph.y.max()) + 1, metric="accuracy"),
        splits={part: [mask_labels(graph, nodes[index])] for part, index in split.items()},
        in_dim=graph.x.shape[1],
        edge_in_dim=0 if graph.edge_attr is None else graph.edge_attr.shape[1],
        info={"nodes": graph.num_nodes, "edges": graph.num_edges},
    )


def build_jsonl(
    *, path: str | Path | None, seed: int = 0, folds: int = 0, fold: int = 0, task: str = "auto", **_: object
) -> Dataset:
    """Graph classification (integer ``y``) or regression (float ``y``; ``task`` overrides the guess) on the graphs
    of a JSON-lines file; integer ``x`` are node category ids."""
    source = _user_path(path, "jsonl")
    graphs = read_jsonl(source)
    if any(g.y is None for g in graphs):
        k = next(k for k, g in enumerate(graphs) if g.y is None)
        raise DataError(f"{graphs[k].name}: training needs a target y on every graph")
    widths = {
        (
            g.x.shape[1] if g.x.is_floating_point() else 0,
            0 if g.edge_attr is None else g.edge_attr.shape[1],
            tuple(g.y.shape),
            g.y.is_floating_point(),
        )
        for g in graphs
    }
    if len(widths) != 1:
        raise DataError(
            f"{source}: the graphs differ in x / edge_attr width, in float x or category ids, or in the kind of y"
        )
    in_dim, edge_in_dim, y_shape, regression = widths.pop()
    kind = ("regression" if regression else "classification") if task == "auto" else task
    if kind == "regression":
        graphs = [g if g.y.is_floating_point() else g.replace(y=g.y.float().reshape(1, -1)) for g in graphs]
        task_ = Task(level="graph", kind="regression", num_outputs=int(graphs[0].y.numel()), metric="mae")
        labels = np.zeros(len(graphs), dtype=np.int64)  # no classes to stratify
    elif kind == "classification":
        bad = next((g for g in graphs if g.y.numel() != 1 or float(g.y) != int(g.y) or float(g.y) < 0), None)
        if bad is not None:
            raise DataError(
                f"{bad.name}: data.task=classification needs y to be one class 0, 1, 2, ...; got {bad.y.tolist()}"
            )
        graphs = [g if not g.y.is_floating_point() else g.replace(y=torch.tensor(int(g.y))) for g in graphs]
        labels = np.array([int(g.y) for g in graphs])
        task_ = Task(level="graph", kind="classification", num_outputs=int(labels.max()) + 1, metric="accuracy")
    else:
        raise ConfigError(f"data.task for a JSON-lines file must be auto, classification or regression; got {task!r}")
    if len(graphs) < 3:
        raise DataError(f"{source}: needs at least 3 graphs (one per split), got {len(graphs)}")
    split = choose_split(labels, folds=folds, fold=fold, seed=seed)
    return Dataset(
        name=source.name,
        task=task_,
        splits={part: [graphs[k] for k in index.tolist()] for part, index in split.items()},
        in_dim=in_dim,
        node_vocab=0 if in_dim else 1 + max(int(g.x.max()) for g in graphs if g.x.numel()),
        edge_in_dim=edge_in_dim,
        info={"graphs": len(graphs)},
    )
