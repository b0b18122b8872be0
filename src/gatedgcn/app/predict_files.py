"""``gatedgcn predict``: the inputs it reads (a CSV of SMILES, graphs as JSON lines, an edge list, a dataset's
split), and the rows it writes in the user's own names (node ids, class names, the input file's cells beside each
prediction).  The predictions themselves are :mod:`gatedgcn.app.predict`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from gatedgcn.app.experiment import Experiment
from gatedgcn.app.predict import Loaded, load, write_rows
from gatedgcn.data.files import node_table_of, read_edge_file, read_jsonl
from gatedgcn.data.inputs import prepare, read_smiles_inputs, read_tu_inputs
from gatedgcn.errors import GatedGCNError
from gatedgcn.graph import Graph

__all__ = ["input_graphs", "predict_run"]


def input_graphs(
    run: Loaded, source: str, *, nodes: str | Path | None = None
) -> tuple[list[Graph], list[dict[str, Any]] | None, list[str] | None]:
    """The graphs named by ``source``, encoded as the run's dataset encoded its own (:mod:`gatedgcn.data.inputs`):
    a CSV of SMILES (a molecule run), a JSON-lines file of graphs (``.jsonl``), an edge list (``.csv`` / ``.tsv``,
    with the node table ``nodes`` or the ``nodes.csv`` beside it), or ``SPLIT`` / ``NAME:SPLIT`` of a dataset
    (NAME built with the run's data options), or ``NAME:all`` / ``FOLDER:all``: every graph of a TU folder.  With
    them, the input cells each prediction row carries (or None), and the node ids of an edge list of string ids
    (or None)."""
    featurisation = run.encoded.info.get("featurisation")
    path = Path(source)
    if path.is_file():
        if featurisation is not None and featurisation.get("kind") == "smiles":
            return (*read_smiles_inputs(path, featurisation), None)
        if path.suffix.lower() in (".jsonl", ".json"):
            return prepare(read_jsonl(path), featurisation), None, None
        classes = run.encoded.info.get("classes") if run.encoded.info.get("class_names") else None
        read = read_edge_file(path, nodes=nodes or node_table_of(path), classes=classes)
        return prepare([read.graph], featurisation), None, read.names
    name, _, split = source.rpartition(":")
    if (
        split == "all" and featurisation is not None and featurisation.get("kind") == "tu"
    ):  # a TU folder: a path, or a name in the data folder
        folder = Path(name) if Path(name).is_dir() else Path(run.config.data.resolved_data_dir() or ".") / "TU" / name
        return read_tu_inputs(folder, featurisation), None, None
    if name and name != run.config.data.name:
        config = replace(run.config, data=replace(run.config.data, name=name))
        data = Experiment.build(config).data
    else:
        data = run.dataset  # the run's own: built again for its splits
    if split not in data.splits:
        raise GatedGCNError(
            f"INPUT {source!r}: not a file, and dataset {data.name} has the splits {', '.join(data.splits)}"
        )
    return list(data.splits[split]), None, None


def _named(rows: list[dict[str, Any]], nodes: list[str] | None, classes: Sequence[str] | None) -> None:
    """The user's names written back in place: node ids (``node``, ``sender``, ``receiver``) and class targets."""
    for row in rows:
        for key in ("node", "sender", "receiver"):
            if nodes is not None and key in row:
                row[key] = nodes[row[key]]
        if classes is not None and isinstance(row.get("target"), int):
            row["target"] = classes[row["target"]]


def _beside(cell: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    """An input row's cells, then its prediction (without the ``graph`` number: the cells say which it is).  A
    prediction column named as an input column (a regression target predicted for a file that still has its labels,
    ``logS``) is ``pred_<name>``, so that the input's own value stays beside the prediction."""
    out = dict(cell)
    for key, value in row.items():
        if key == "graph":
            continue
        name = key
        while name in cell:
            name = f"pred_{name}"
        out[name] = value
    return out


def predict_run(
    run_dir: str | Path,
    source: str,
    out: str | Path | None = None,
    *,
    nodes: str | Path | None = None,
    device: str = "cpu",
    batch_size: int | None = None,
    progress: bool | None = None,
) -> list[dict[str, Any]]:
    """``gatedgcn predict``: predictions of the run for ``source``, written to ``out`` (CSV on standard output without);
    a row of a SMILES file carries the input's cells (ids, SMILES, labels) before its prediction (:func:`_beside`)."""
    run = load(run_dir, device=device, batch_size=batch_size)
    graphs, cells, names = input_graphs(run, source, nodes=nodes)
    rows = run.predict(graphs, progress=progress)
    if cells is not None:
        rows = [_beside(cell, row) for cell, row in zip(cells, rows)]
    _named(rows, names, run.predict.classes if run.encoded.info.get("class_names") else None)
    write_rows(rows, out)
    return rows
