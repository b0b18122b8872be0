"""A node table: one line per node, its id, float features and (optionally) its class.

id, f_1, ..., f_m[, label]       ids 0..N-1 in any order, or any strings (node k is then the k-th line);
                                 float features, or one column named ``x`` of integers: node category ids;
                                 with a header, a column named ``label`` or ``y`` holds the classes:
                                 integers (-1 or empty: unlabelled), or names (any text; empty: unlabelled),
                                 which become class ids in sorted order (:func:`~gatedgcn.data.tables.names_to_ids`)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gatedgcn.data.tables import check_width, is_int, names_to_ids, number, read_rows, split_header
from gatedgcn.errors import DataError

__all__ = ["LABEL_COLUMNS", "NodeTable", "node_table_of", "read_node_table"]

LABEL_COLUMNS = ("label", "y")


@dataclass(frozen=True)
class NodeTable:
    """Shapes: x ``[N, F]`` float32 (a column of ones when the table has only ids) or ``[N]`` int64 category ids
    (an integer column ``x``), y ``[N]`` int64 (-1: unlabelled)
    or None.  ``names``: the ids as written, node k the k-th (None: integer ids, node k the id k); ``classes``: the
    label names, class c the c-th (None: integer labels)."""

    x: np.ndarray
    y: np.ndarray | None
    names: list[str] | None = None
    classes: list[str] | None = None

    def index(self) -> dict[str, int]:
        """Node id text -> node number."""
        if self.names is None:
            return {str(k): k for k in range(len(self.x))}
        return {name: k for k, name in enumerate(self.names)}


def node_table_of(edge_path: Path) -> Path | None:
    """``nodes.csv`` or ``nodes.tsv`` beside the edge list, if there is one."""
    for name in ("nodes.csv", "nodes.tsv"):
        if (edge_path.parent / name).is_file() and (edge_path.parent / name) != edge_path:
            return edge_path.parent / name
    return None


def _labels(texts: list[str], lines: list[int], path: Path, column: int, classes: list[str] | None):
    """The label column as class ids ``[N]`` (-1: unlabelled) and the class names (None: integer labels)."""
    given = [t for t in texts if t != ""]
    if classes is None and all(is_int(t) for t in given):
        ids = [-1 if t == "" else number(t, path, line, column, int) for t, line in zip(texts, lines)]
        bad = next((k for k, v in enumerate(ids) if v < -1), None)
        if bad is not None:
            raise DataError(
                f"{path}:{lines[bad]}: label {ids[bad]} is negative (use -1 or leave it empty for no label)"
            )
        return np.array(ids, dtype=np.int64), None
    vocab = names_to_ids(given, classes)
    for t, line in zip(texts, lines):
        if t != "" and t not in vocab:
            raise DataError(
                f"{path}:{line}: column {column + 1} (label): class {t!r} is not one of the run's classes "
                f"{', '.join(vocab)}"
            )
    return np.array([-1 if t == "" else vocab[t] for t in texts], dtype=np.int64), list(vocab)


def _order(ids: list[str], lines: list[int], path: Path) -> tuple[np.ndarray, list[str] | None]:
    """Row order by node number (integer ids: each row's id; string ids: the rows as they are) and the names."""
    N = len(ids)
    seen: dict[str, int] = {}
    for node, line in zip(ids, lines):
        if node in seen:
            shown = node if is_int(node) else repr(node)
            raise DataError(f"{path}:{line}: node id {shown} already given on line {seen[node]}")
        seen[node] = line
    if not all(is_int(node) for node in ids):
        empty = next((line for node, line in zip(ids, lines) if node == ""), None)
        if empty is not None:
            raise DataError(f"{path}:{empty}: column 1 (id): the node id is empty")
        return np.arange(N), list(ids)
    numbers = [int(node) for node in ids]
    for number_, line in zip(numbers, lines):
        if not 0 <= number_ < N:
            raise DataError(f"{path}:{line}: node id {number_} out of range [0, {N}) (the table has {N} nodes)")
    if len(set(numbers)) != N:  # "1" and "+1"
        raise DataError(f"{path}: node ids repeat (written two ways); number the nodes 0..{N - 1} once each")
    return np.argsort(numbers), None


def _categorical(header: list[str] | None, label_col: int | None, rows) -> bool:
    """Whether the table's one feature column is named ``x`` and holds integers: node category ids."""
    features = [k for k in range(1, len(header or [])) if k != label_col]
    if header is None or len(features) != 1 or header[features[0]] != "x":
        return False
    return all(is_int(fields[features[0]]) for _, fields in rows)


def read_node_table(path: Path, *, classes: list[str] | None = None) -> NodeTable:
    """The table at ``path``; ``classes``: the names its labels must be among (a run's), in their order."""
    header, rows = split_header(read_rows(path), 1)
    if not rows:
        raise DataError(f"{path}: has a header but no nodes")
    width = len(header) if header else len(rows[0][1])
    label_col = next((k for k, name in enumerate(header or []) if name in LABEL_COLUMNS and k > 0), None)
    ids, feats, texts, lines = [], [], [], []
    for lineno, fields in rows:
        check_width(fields, width, path, lineno)
        ids.append(fields[0])
        feats.append([number(f, path, lineno, k, float) for k, f in enumerate(fields) if k > 0 and k != label_col])
        texts.append("" if label_col is None else fields[label_col])
        lines.append(lineno)
    order, names = _order(ids, lines, path)
    N = len(ids)
    x = np.array(feats, dtype=np.float32).reshape(N, -1)[order]  # [N, F]
    if x.shape[1] == 0:
        x = np.ones((N, 1), dtype=np.float32)
    if _categorical(header, label_col, rows):
        x = x[:, 0].astype(np.int64)  # [N] category ids
        bad = next((k for k, v in enumerate(x) if v < 0), None)
        if bad is not None:
            raise DataError(
                f"{path}:{lines[order[bad]]}: column x holds category ids, which must be >= 0; got {x[bad]}"
            )
    if label_col is None:
        return NodeTable(x, None, names)
    y, names_of_classes = _labels(texts, lines, path, label_col, classes)
    return NodeTable(x, y[order], names, names_of_classes)  # y: [N]
