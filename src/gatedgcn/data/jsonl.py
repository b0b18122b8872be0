"""JSON lines, one graph per line, and the graph-level dataset of such a file::

    {"num_nodes": 3, "edge_index": [[0, 1], [1, 2]], "x": [[0.5], [1], [2]], "edge_attr": [[1], [1]], "y": 1}

``edge_index`` is ``[senders, receivers]``; ``num_nodes`` may be left out when ``x`` is given (one row per node);
``x`` (``[N, F]`` floats, or a flat list of integers: one category id per node; default a column of ones),
``edge_attr`` (``[E, F_e]`` floats) and ``y`` are optional.  ``y`` is an integer class for
graph classification, or a number / list of numbers for graph regression (``data.task`` overrides the guess).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gatedgcn.data.dataset import Dataset, Task
from gatedgcn.data.splits import choose_split
from gatedgcn.data.tables import check_node_count, user_path
from gatedgcn.data.textfile import read_text, shown
from gatedgcn.errors import ConfigError, DataError, GraphError
from gatedgcn.graph import Graph

__all__ = ["build_jsonl", "read_jsonl"]


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
        check_node_count(n, edge_index.shape[1], f"{where}: num_nodes {n:,}")
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


def _target(g: Graph) -> torch.Tensor:
    """``g.y``; :class:`DataError` naming the graph where it has none (training needs a target on every graph)."""
    if g.y is None:
        raise DataError(f"{g.name}: training needs a target y on every graph")
    return g.y


def _targets(graphs: list[Graph], kind: str) -> tuple[list[Graph], Task, np.ndarray]:
    """The graphs with ``y`` as the task ``kind`` reads it, the task, and the labels to stratify the split by."""
    ys = [_target(g) for g in graphs]
    if kind == "regression":
        graphs = [g if y.is_floating_point() else g.replace(y=y.float().reshape(1, -1)) for g, y in zip(graphs, ys)]
        task = Task(level="graph", kind="regression", num_outputs=int(ys[0].numel()), metric="mae")
        return graphs, task, np.zeros(len(graphs), dtype=np.int64)  # no classes to stratify
    if kind != "classification":
        raise ConfigError(f"data.task for a JSON-lines file must be auto, classification or regression; got {kind!r}")
    bad = next((k for k, y in enumerate(ys) if y.numel() != 1 or float(y) != int(y) or float(y) < 0), None)
    if bad is not None:
        raise DataError(
            f"{graphs[bad].name}: data.task=classification needs y to be one class 0, 1, 2, ...; got {ys[bad].tolist()}"
        )
    graphs = [g if not y.is_floating_point() else g.replace(y=torch.tensor(int(y))) for g, y in zip(graphs, ys)]
    labels = np.array([int(y) for y in ys])
    task = Task(level="graph", kind="classification", num_outputs=int(labels.max()) + 1, metric="accuracy")
    return graphs, task, labels


def build_jsonl(
    *, path: str | Path | None, seed: int = 0, folds: int = 0, fold: int = 0, task: str = "auto", **_: object
) -> Dataset:
    """Graph classification (integer ``y``) or regression (float ``y``; ``task`` overrides the guess) on the graphs
    of a JSON-lines file; integer ``x`` are node category ids."""
    source = user_path(path, "jsonl")
    graphs = read_jsonl(source)
    widths = {
        (
            g.x.shape[1] if g.x.is_floating_point() else 0,
            0 if g.edge_attr is None else g.edge_attr.shape[1],
            tuple(_target(g).shape),
            _target(g).is_floating_point(),
        )
        for g in graphs
    }
    if len(widths) != 1:
        raise DataError(
            f"{source}: the graphs differ in x / edge_attr width, in float x or category ids, or in the kind of y"
        )
    in_dim, edge_in_dim, _y_shape, regression = widths.pop()
    kind = ("regression" if regression else "classification") if task == "auto" else task
    graphs, task_, labels = _targets(graphs, kind)
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
