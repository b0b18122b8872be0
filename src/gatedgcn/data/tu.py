"""The TU collection format (Morris et al., TUDataset): a folder of text files per dataset.

    NAME_A.txt                 one edge per line, ``j, i`` (sender, receiver), 1-based global node ids
    NAME_graph_indicator.txt   line n: the graph (1..G) of node n; sorted, no gaps
    NAME_graph_labels.txt      line g: the class of graph g (any integer coding: -1/1, 1/2, 1..6, ...)
    NAME_node_labels.txt       optional, line n: integer label(s) of node n      -> one-hot features
    NAME_node_attributes.txt   optional, line n: float attributes of node n      -> float features
    NAME_edge_labels.txt       optional, line k: integer label(s) of edge k      -> one-hot edge features
    NAME_edge_attributes.txt   optional, line k: float attributes of edge k      -> float edge features

Node features are ``[attributes, one-hot labels]``; a dataset with neither (NCI1 in the
shared copy) gets the in-degree as its one feature.  Float attributes are standardised per
column over the whole collection (``(a - mean) / std``, no labels involved): ENZYMES' raw
attributes reach ~100, which a sum readout turns into logits in the thousands at the start.  Graph labels are remapped to
``0..C-1`` in sorted order of their original values.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gatedgcn.data.dataset import Dataset, Task
from gatedgcn.data.splits import choose_split
from gatedgcn.data.textfile import dataset_folder, read_table
from gatedgcn.errors import DataError
from gatedgcn.graph import Graph

__all__ = ["TUCollection", "read_tu", "one_hot_columns", "label_vocab", "standardise", "build_tu"]


@dataclass(frozen=True)
class TUCollection:
    """The graphs of one TU dataset with their remapped labels.

    Shapes: labels ``[G]`` in ``0..C-1``; classes ``[C]`` the original label of each class.
    """

    name: str
    graphs: list[Graph]
    labels: np.ndarray
    classes: np.ndarray
    in_dim: int
    edge_in_dim: int
    encoding: dict | None = None  # label vocabularies and attribute statistics, to encode new graphs alike


def one_hot_columns(values: np.ndarray, vocab: list[list[int]] | None = None, where: str = "") -> np.ndarray:
    """Each integer column one-hot over its sorted distinct values (or over ``vocab[c]``, a trained run's), the
    columns side by side; a value outside a given vocabulary is refused naming ``where`` and the row.

    Shapes: values ``[R, C]`` -> ``[R, Σ_c distinct(c)]`` float.
    """
    blocks = []
    for c, column in enumerate(values.T):
        known = np.unique(column) if vocab is None else np.asarray(vocab[c])  # [K] sorted
        codes = np.searchsorted(known, column)  # [R]
        bad = np.flatnonzero((codes >= len(known)) | (known[np.minimum(codes, len(known) - 1)] != column))
        if len(bad):
            raise DataError(
                f"{where}: row {int(bad[0]) + 1} has label {int(column[bad[0]])} in column {c + 1}, which the run was "
                f"not trained with (labels {known.tolist()})"
            )
        blocks.append(np.eye(len(known), dtype=np.float32)[codes])  # [R, K]
    return np.concatenate(blocks, axis=1)


def label_vocab(values: np.ndarray | None) -> list[list[int]] | None:
    """The sorted distinct values of each integer column: what :func:`one_hot_columns` encodes."""
    return None if values is None else [np.unique(column).tolist() for column in values.T]


def _optional(folder: Path, name: str, suffix: str, kind: type, rows: int, what: str) -> np.ndarray | None:
    path = folder / f"{name}_{suffix}.txt"
    if not path.exists():
        return None
    table, _ = read_table(path, kind)
    if table.shape[0] != rows:
        raise DataError(f"{path}: has {table.shape[0]} rows, expected {rows} (one per {what})")
    return table


MAX_ONE_HOT = 1 << 27  # entries of a one-hot feature matrix (512 MiB as float32)


def _check_one_hot(labels: np.ndarray | None, path: Path) -> None:
    """The one-hot width of integer labels (distinct values per column) must fit :data:`MAX_ONE_HOT` entries."""
    if labels is None:
        return
    width = sum(len(np.unique(column)) for column in labels.T)
    if labels.shape[0] * width > MAX_ONE_HOT:
        raise DataError(
            f"{path}: {width:,} distinct labels over {labels.shape[0]:,} rows: one-hot features of "
            f"{4 * labels.shape[0] * width / 2**30:,.1f} GiB (at most {MAX_ONE_HOT:,} entries)"
        )


def _graph_of_nodes(path: Path) -> tuple[np.ndarray, int]:
    """The 0-based graph of each node and the number of graphs; checks sorted ids 1..G without gaps."""
    table, lines = read_table(path, int, columns=1)
    g = table[:, 0]  # [N]
    if g[0] != 1:
        raise DataError(f"{path}:{lines[0]}: graph ids must start at 1, got {g[0]}")
    step = np.diff(g)  # [N-1]
    bad = np.flatnonzero((step < 0) | (step > 1))
    if len(bad):
        k = int(bad[0]) + 1
        problem = "is not sorted" if step[k - 1] < 0 else "skips a graph id"
        raise DataError(f"{path}:{lines[k]}: graph indicator {problem} (graph {g[k - 1]} then {g[k]})")
    return g - 1, int(g[-1])


def standardise(values: np.ndarray, stats: dict[str, list[float]] | None = None) -> np.ndarray:
    """Each column to mean 0 and (population) standard deviation 1, a constant column to 0; with ``stats``
    (``mean``, ``std`` of a trained run's data) by those instead.  Shapes: ``[R, C]``."""
    mean = values.mean(0) if stats is None else np.asarray(stats["mean"])  # [C]
    std = values.std(0) if stats is None else np.asarray(stats["std"])  # [C]
    return (values - mean) / np.where(std > 0, std, 1.0)


def _stats(values: np.ndarray | None) -> dict[str, list[float]] | None:
    return None if values is None else {"mean": values.mean(0).tolist(), "std": values.std(0).tolist()}


def read_tu(folder: str | Path, name: str, encoding: dict | None = None) -> TUCollection:
    """Read dataset ``name`` from ``folder`` (which holds ``name_A.txt`` etc.); ``encoding``: a trained run's label
    vocabularies and attribute statistics (``TUCollection.encoding``) to encode new graphs as its own."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: TU dataset folder not found")
    node_graph, G = _graph_of_nodes(folder / f"{name}_graph_indicator.txt")  # [N]
    edges = _edges(folder / f"{name}_A.txt", node_graph)  # [E, 2]
    raw_labels = _optional(folder, name, "graph_labels", int, G, "graph in the graph indicator")
    if raw_labels is None:
        raise DataError(f"{folder / f'{name}_graph_labels.txt'}: file not found")
    classes, labels = np.unique(raw_labels[:, 0], return_inverse=True)  # [C], [G]
    x_all, e_all, enc = _features(folder, name, edges, len(node_graph), encoding)  # [N, F], [E, F_e] or None
    graphs = _per_graph(name, node_graph, edges, x_all, e_all, labels)
    return TUCollection(
        name, graphs, labels.astype(np.int64), classes, x_all.shape[1], 0 if e_all is None else e_all.shape[1], enc
    )


def _edges(path: Path, node_graph: np.ndarray) -> np.ndarray:
    """The 0-based global ``(j, i)`` of each edge of ``NAME_A.txt``; ids in range, both ends in one graph.

    Shapes: node_graph ``[N]`` -> ``[E, 2]``.
    """
    N = len(node_graph)
    edges, edge_lines = read_table(path, int, columns=2)  # [E, 2], [E]
    outside = np.flatnonzero((edges < 1).any(1) | (edges > N).any(1))
    if len(outside):
        k = int(outside[0])
        raise DataError(f"{path}:{edge_lines[k]}: node id out of range [1, {N}]: {edges[k].tolist()}")
    edges = edges - 1  # 0-based global ids
    across = np.flatnonzero(node_graph[edges[:, 0]] != node_graph[edges[:, 1]])
    if len(across):
        k = int(across[0])
        raise DataError(
            f"{path}:{edge_lines[k]}: edge joins nodes of two graphs ({node_graph[edges[k, 0]] + 1} and {node_graph[edges[k, 1]] + 1})"
        )
    return edges


def _features(
    folder: Path, name: str, edges: np.ndarray, N: int, encoding: dict | None
) -> tuple[np.ndarray, np.ndarray | None, dict]:
    """Node features ``[N, F]`` (attributes, one-hot labels; else the in-degree), edge features ``[E, F_e]`` (or
    None), and the encoding used: ``encoding`` if given, else the one found in the files."""
    E = len(edges)
    node_attr = _optional(folder, name, "node_attributes", float, N, "node")
    node_lab = _optional(folder, name, "node_labels", int, N, "node")
    edge_attr = _optional(folder, name, "edge_attributes", float, E, "edge")
    edge_lab = _optional(folder, name, "edge_labels", int, E, "edge")
    _check_one_hot(node_lab, folder / f"{name}_node_labels.txt")
    _check_one_hot(edge_lab, folder / f"{name}_edge_labels.txt")
    found: dict[str, Any] = {  # the JSON record of the encoding (Dataset.info's featurisation)
        "node_labels": label_vocab(node_lab),
        "edge_labels": label_vocab(edge_lab),
        "node_attributes": _stats(node_attr),
        "edge_attributes": _stats(edge_attr),
    }
    enc = found if encoding is None else encoding
    _check_encoding(enc, found, folder / name)
    node_attr = None if node_attr is None else standardise(node_attr, enc["node_attributes"])
    edge_attr = None if edge_attr is None else standardise(edge_attr, enc["edge_attributes"])
    node_hot = None if node_lab is None else one_hot_columns(node_lab, enc["node_labels"], f"{name}_node_labels.txt")
    x_parts = [a for a in (node_attr, node_hot) if a is not None]
    if x_parts:
        x_all = np.concatenate(x_parts, axis=1).astype(np.float32)  # [N, F]
    else:
        x_all = np.bincount(edges[:, 1], minlength=N).astype(np.float32)[:, None]  # in-degree: [N, 1]
    edge_hot = None if edge_lab is None else one_hot_columns(edge_lab, enc["edge_labels"], f"{name}_edge_labels.txt")
    e_parts = [a for a in (edge_attr, edge_hot) if a is not None]
    e_all = np.concatenate(e_parts, axis=1).astype(np.float32) if e_parts else None  # [E, F_e]
    return x_all, e_all, enc


def _per_graph(
    name: str, node_graph: np.ndarray, edges: np.ndarray, x_all: np.ndarray, e_all: np.ndarray | None, labels
) -> list[Graph]:
    """The collection cut into its graphs, local node ids, each graph's edges in file order.

    Shapes: node_graph ``[N]``, edges ``[E, 2]`` global ids, x_all ``[N, F]``, e_all ``[E, F_e]``, labels ``[G]``.
    """
    G = len(labels)
    node_start = np.searchsorted(node_graph, np.arange(G + 1))  # [G+1]
    edge_graph = node_graph[edges[:, 0]]  # [E]
    order = np.argsort(edge_graph, kind="stable")  # edges grouped by graph, file order kept
    edge_start = np.searchsorted(edge_graph[order], np.arange(G + 1))  # [G+1]
    x_t = torch.from_numpy(x_all)
    e_t = None if e_all is None else torch.from_numpy(e_all)
    local = torch.from_numpy(edges[order] - node_start[edge_graph[order]][:, None]).t().contiguous()  # [2, E] local ids
    order_t = torch.from_numpy(order)
    graphs = []
    for g in range(G):
        a, b = int(edge_start[g]), int(edge_start[g + 1])
        graphs.append(
            Graph(
                x=x_t[node_start[g] : node_start[g + 1]],
                edge_index=local[:, a:b],
                edge_attr=None if e_t is None else e_t[order_t[a:b]],
                y=torch.tensor(int(labels[g])),
                name=f"{name}[{g}]",
            )
        )
    return graphs


def _check_encoding(encoding: dict, found: dict, where: Path) -> None:
    """New graphs must carry the files (labels, attributes) a trained run's encoding expects, and no others."""
    for key in ("node_labels", "edge_labels", "node_attributes", "edge_attributes"):
        if (encoding.get(key) is None) != (found[key] is None):
            has = "has" if found[key] is not None else "has no"
            raise DataError(f"{where}_{key}.txt: this collection {has} {key.replace('_', ' ')}, the run's data did not")


def build_tu(name: str, *, data_dir: Path | None, seed: int = 0, folds: int = 0, fold: int = 0, **_: object) -> Dataset:
    """A TU dataset split by ``seed``: fold ``fold`` of ``folds``-fold CV, or (``folds=0``) a fixed 8 / 1 / 1 split."""
    tu = read_tu(dataset_folder(data_dir, name, "TU", name), name)
    split = choose_split(tu.labels, folds=folds, fold=fold, seed=seed)
    return Dataset(
        name=name,
        task=Task(level="graph", kind="classification", num_outputs=len(tu.classes), metric="accuracy"),
        splits={part: [tu.graphs[k] for k in index.tolist()] for part, index in split.items()},
        in_dim=tu.in_dim,
        edge_in_dim=tu.edge_in_dim,
        info={
            "classes": tu.classes.tolist(),
            "graphs": len(tu.graphs),
            "folds": folds,
            "fold": fold,
            "featurisation": {"kind": "tu", **(tu.encoding or {})},
        },
    )
