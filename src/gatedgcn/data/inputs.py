"""A trained run's featurisation applied to a user's new inputs.

What a dataset does to raw graphs is recorded in ``Dataset.info["featurisation"]`` (and so in the run's
``summary.json``), and :func:`prepare` does it again to the graphs a user hands to ``gatedgcn predict``:

    {"kind": "degree", "vocab": V}    the mini set: a self-loop on every node (where missing), x = in-degree with the
                                      loop (a category id < V), edge_attr = 1; the input's own x is not read (a
                                      warning names each graph, file:line, that has one)
    {"kind": "smiles", "encoding": "ogb" | "element", "smiles_column": C}
                                      molecules, from a CSV of SMILES (:func:`read_smiles_inputs`)
    {"kind": "tu", "node_labels": ..., ...}
                                      a TU folder, its labels one-hot over the run's vocabularies and its attributes
                                      standardised by the run's statistics (:func:`read_tu_inputs`)
    no record                         the graphs are taken as they are (their x must fit the model)
"""

from __future__ import annotations

import csv
import io
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from gatedgcn.data.featurise import mol_to_graph, parse_smiles
from gatedgcn.errors import DataError, GraphError
from gatedgcn.graph import Graph

__all__ = ["prepare", "degree_features", "read_smiles_inputs", "read_tu_inputs"]


def degree_features(g: Graph, vocab: int) -> Graph:
    """The mini set's encoding of a graph: self-loops added where missing, x = in-degree (loop included) ``[N]``,
    edge_attr = 1 ``[E, 1]``; a degree the model has no category for is refused naming the graph and node."""
    j, i = g.edge_index
    has_loop = torch.zeros(g.num_nodes, dtype=torch.bool)
    has_loop[i[j == i]] = True
    missing = torch.nonzero(~has_loop).squeeze(1)  # [M] nodes without i -> i
    edge_index = torch.cat([g.edge_index, missing.expand(2, -1)], dim=1)  # [2, E + M]
    degree = torch.bincount(edge_index[1], minlength=g.num_nodes)  # [N]
    if degree.numel() and int(degree.max()) >= vocab:
        v = int(degree.argmax())
        raise GraphError(
            f"{g.name}: node {v} has in-degree {int(degree[v])} (self-loop included); the run's model knows "
            f"degrees 0..{vocab - 1} (it was trained on graphs of fewer than {vocab} nodes)"
        )
    return g.replace(x=degree, edge_index=edge_index, edge_attr=torch.ones(edge_index.shape[1], 1))


def _own_features(g: Graph) -> list[str]:
    """The fields of ``g`` a degree encoding replaces that hold more than the readers' default (ones)."""
    fields = []
    if not (g.x.is_floating_point() and g.x.dim() == 2 and g.x.shape[1] == 1 and bool((g.x == 1).all())):
        fields.append("x")
    if g.edge_attr is not None and not bool((g.edge_attr == 1).all()):
        fields.append("edge_attr")
    return fields


def warn_unread(graphs: Sequence[Graph]) -> None:
    """One warning naming the graphs (file:line) whose own x / edge_attr a degree encoding does not read."""
    unread = [(g.name, fields) for g in graphs if (fields := _own_features(g))]
    if not unread:
        return
    (first, fields), more = unread[0], [name for name, _ in unread[1:]]
    rest = f"; so do {len(more)} more: {', '.join(more[:4])}{' ...' if len(more) > 4 else ''}" if more else ""
    warnings.warn(
        f"{first}: the run's featurisation computes x from the in-degrees (its dataset's encoding) and edge_attr = 1; "
        f"this graph's own {' and '.join(fields)} is not read{rest}",
        stacklevel=3,
    )


def prepare(graphs: Sequence[Graph], featurisation: dict[str, Any] | None) -> list[Graph]:
    """``graphs`` encoded as the run's dataset encoded its own (see the module docstring); a degree encoding warns
    first about the graphs whose own features it does not read (:func:`warn_unread`)."""
    kind = (featurisation or {}).get("kind")
    if kind == "degree":
        warn_unread(graphs)
        return [degree_features(g, int(featurisation["vocab"])) for g in graphs]  # type: ignore[index]
    return list(graphs)


def _smiles_column(path: Path, columns: list[str], stored: str | None) -> str:
    if stored is not None and stored in columns:
        return stored
    named = [c for c in columns if c.strip().lower() == "smiles"]
    if not named:
        raise DataError(f"{path}: no SMILES column ({stored or 'smiles'}); columns: {', '.join(columns)}")
    return named[0]


def read_smiles_inputs(
    path: str | Path, featurisation: dict[str, Any]
) -> tuple[list[Graph], list[dict[str, str | None]]]:
    """The molecules of a CSV of SMILES as the run's graphs, and each one's input cells (ids, SMILES, ...) to carry
    into its prediction row; rows RDKit cannot read are skipped with one warning naming them."""
    from gatedgcn.data.smiles import _text  # the same file reading (.csv / .csv.gz) as training

    path = Path(path)
    reader = csv.DictReader(io.StringIO(_text(path)))
    columns = list(reader.fieldnames or [])
    column = _smiles_column(path, columns, featurisation.get("smiles_column"))
    graphs, cells, bad = [], [], []
    for row in reader:
        smiles = (row.get(column) or "").strip()
        mol = parse_smiles(smiles)
        if mol is None:
            bad.append(f"line {reader.line_num} ({smiles!r})")
            continue
        graphs.append(mol_to_graph(mol, featurisation["encoding"], name=f"{path.name}:{reader.line_num}"))
        cells.append({c: row.get(c) for c in columns})
    if not graphs:
        raise DataError(f"{path}: RDKit cannot read any SMILES in column {column!r}")
    if bad:
        warnings.warn(f"{path}: skipped {len(bad)} SMILES RDKit cannot read: {', '.join(bad[:5])}", stacklevel=2)
    return graphs, cells


def read_tu_inputs(folder: str | Path, featurisation: dict[str, Any]) -> list[Graph]:
    """Every graph of the TU folder ``folder`` (named as the folder), in file order, encoded as the run's data."""
    from gatedgcn.data.tu import read_tu

    folder = Path(folder)
    encoding = {k: v for k, v in featurisation.items() if k != "kind"}
    return read_tu(folder, folder.name, encoding).graphs
