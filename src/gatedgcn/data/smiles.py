"""The user's own molecules: a CSV (or ``.csv.gz``) of SMILES and measured properties.

    gatedgcn train --dataset smiles --data-path FILE.csv [--set data.targets=a,b] [--set data.split=random]

Columns: the SMILES column (``data.smiles_column``; default the column named ``smiles`` in any
case), the target columns (``data.targets``, comma-separated; default every other column whose
filled cells are all numbers), anything else is carried along (ids, names).  An empty cell is
a missing label: masked out of the loss and the metrics, never read as 0.  A MoleculeNet file
(``smiles``, then one column per task) reads as it comes.

Task (``data.task``): ``multilabel`` (the default when every target is 0 / 1: one logit per task,
ROC-AUC), ``regression`` (the default otherwise, MAE), or ``classification`` (one column of
integer classes, cross-entropy, accuracy).

Split (``data.split``): ``scaffold`` (Bemis-Murcko scaffolds with chirality; the sets in
descending (size, first row) order fill train up to 80 %, then validation up to 90 %, then test:
the rule of OGB and pretrain-gnns, which gives ogbg-molhiv's 32,901 / 4,113 / 4,113 on HIV),
``random`` (seeded by ``data.seed``, 80 / 10 / 10), or the name of a column whose cells say
``train``, ``val`` (``valid``) or ``test``.

SMILES RDKit cannot read are skipped with one warning counting them and naming the first rows;
a file where every row fails is an error naming the file.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np
import torch

from gatedgcn.data.cache import cached
from gatedgcn.data.dataset import Dataset, Task
from gatedgcn.data.featurise import (
    ATOM_FEATURE_DIMS,
    BOND_FEATURE_DIMS,
    BOND_VOCAB,
    ELEMENT_VOCAB,
    FEATURISATIONS,
    mol_to_graph,
    parse_smiles,
)
from gatedgcn.data.smiles_split import SPLITS, scaffolds_of, split_rows
from gatedgcn.data.smiles_table import SmilesTable, read_smiles_table
from gatedgcn.data.smiles_table import read_csv_text as _text  # noqa: F401 (data/inputs.py reads the files alike)
from gatedgcn.errors import ConfigError, DataError
from gatedgcn.graph import Graph

__all__ = [
    "SPLITS",
    "TASKS",
    "SmilesTable",
    "build_moleculenet",
    "build_smiles",
    "read_smiles_table",
    "scaffolds_of",
    "split_rows",
]

TASKS = ("auto", "regression", "classification", "multilabel")
SHOW_ROWS = 5  # rows named in the warning about unreadable SMILES


def _task(table: SmilesTable, task: str) -> str:
    values = table.targets[~np.isnan(table.targets)]
    if task == "auto":
        return "multilabel" if values.size and np.isin(values, (0.0, 1.0)).all() else "regression"
    if task == "multilabel" and not np.isin(values, (0.0, 1.0)).all():
        raise DataError(
            f"{table.path}: data.task=multilabel needs 0 / 1 targets; found {values[~np.isin(values, (0.0, 1.0))][0]}"
        )
    if task == "classification":
        if len(table.target_columns) != 1:
            raise DataError(
                f"{table.path}: data.task=classification reads one column of classes; data.targets names {len(table.target_columns)}"
            )
        if not (values == np.round(values)).all() or (values < 0).any():
            raise DataError(
                f"{table.path}: data.task=classification needs classes 0, 1, 2, ...; found {values[(values != np.round(values)) | (values < 0)][0]}"
            )
    return task


def _target(row: np.ndarray, task: str) -> torch.Tensor:
    if task == "classification":
        return torch.tensor(-1 if np.isnan(row[0]) else int(row[0]))  # [] class id (-1: no label)
    return torch.tensor(row, dtype=torch.float32).reshape(1, -1)  # [1, k], NaN: no label


def _readable(table: SmilesTable) -> tuple[list[int], list]:
    """Rows whose SMILES RDKit reads, and their molecules; one warning for the others."""
    mols = [parse_smiles(s) for s in table.smiles]
    bad = [r for r, m in enumerate(mols) if m is None]
    if len(bad) == len(mols):
        raise DataError(
            f"{table.path}: RDKit cannot read any of the {len(mols)} SMILES in column {table.smiles_column!r}"
        )
    if bad:
        shown = ", ".join(f"line {table.lines[r]} ({table.smiles[r]!r})" for r in bad[:SHOW_ROWS])
        warnings.warn(
            f"{table.path}: skipped {len(bad)} of {len(mols)} SMILES RDKit cannot read: {shown}"
            + (", ..." if len(bad) > SHOW_ROWS else ""),
            stacklevel=2,
        )
    keep = [r for r, m in enumerate(mols) if m is not None]
    return keep, [mols[r] for r in keep]


def _build_splits(table: SmilesTable, task: str, split: str, featurisation: str, seed: int) -> dict[str, list[Graph]]:
    keep, mols = _readable(table)
    parts = split_rows(table, keep, mols, split, seed)
    return {
        name: [
            mol_to_graph(
                mols[p],
                featurisation,
                y=_target(table.targets[keep[p]], task),
                name=f"{table.path.name}:{table.lines[keep[p]]}",
            )
            for p in positions
        ]
        for name, positions in parts.items()
    }


def build_smiles(
    *,
    path: str | Path | None = None,
    smiles_column: str | None = None,
    targets: str | None = None,
    task: str = "auto",
    split: str = "scaffold",
    featurisation: str = "ogb",
    seed: int = 0,
    cache_dir: Path | None = None,
    data_dir: Path | None = None,
    **_: object,
) -> Dataset:
    """Graph regression or (multilabel) classification on the molecules of a SMILES CSV file (``path``; a relative
    path that is not there is looked for in the data folder)."""
    path = _source(path, data_dir)
    if task not in TASKS:
        raise ConfigError(f"data.task must be one of {', '.join(TASKS)}; got {task!r}")
    if featurisation not in FEATURISATIONS:
        raise ConfigError(f"data.featurisation must be one of {', '.join(FEATURISATIONS)}; got {featurisation!r}")
    table = read_smiles_table(path, smiles_column, targets)
    kind = _task(table, task)
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    params = {
        "file_sha256": digest,
        "smiles": table.smiles_column,
        "targets": table.target_columns,
        "task": kind,
        "split": split,
        "seed": seed if split == "random" else 0,
        "featurisation": featurisation,
    }
    splits = cached("smiles", params, lambda: _build_splits(table, kind, split, featurisation, seed), cache_dir)
    return _dataset(path, table, kind, featurisation, digest, splits)


def _source(path: str | Path | None, data_dir: Path | None) -> Path:
    """The CSV file: ``path``, or a relative ``path`` that is not there looked for in the data folder."""
    if path is None:
        raise ConfigError("dataset 'smiles' reads the user's CSV of SMILES: give it with --data-path FILE.csv")
    path = Path(path)
    if not path.is_absolute() and not path.exists() and data_dir is not None and (Path(data_dir) / path).is_file():
        path = Path(data_dir) / path  # a relative path inside the data folder (the presets' molecules/...)
    return path


def _dataset(
    path: Path, table: SmilesTable, kind: str, featurisation: str, digest: str, splits: dict[str, list[Graph]]
) -> Dataset:
    """The task, vocabularies and recorded featurisation of the molecules of ``table`` around their splits."""
    k = len(table.target_columns)
    if kind == "classification":
        num_outputs = int(np.nanmax(table.targets)) + 1
        metric = "accuracy"
    else:
        num_outputs, metric = k, ("rocauc" if kind == "multilabel" else "mae")
    ogb = featurisation == "ogb"
    return Dataset(
        name=Path(path).name,
        task=Task(level="graph", kind=kind, num_outputs=num_outputs, metric=metric),
        splits=splits,
        node_vocab=sum(ATOM_FEATURE_DIMS) if ogb else ELEMENT_VOCAB,
        edge_vocab=sum(BOND_FEATURE_DIMS) if ogb else BOND_VOCAB,
        info={
            "source": str(path),
            "sha256": digest,
            "featurisation": {"kind": "smiles", "encoding": featurisation, "smiles_column": table.smiles_column},
            "targets": table.target_columns,
            **({"classes": [str(c) for c in range(num_outputs)]} if kind == "classification" else {}),
        },
    )


def build_moleculenet(name: str, *, data_dir: Path | None = None, **options: object) -> Dataset:
    """A MoleculeNet file of the data folder (``molecules/moleculenet/NAME.csv``) read as the smiles dataset."""
    from gatedgcn.data.textfile import dataset_folder

    path = dataset_folder(data_dir, name, "molecules", "moleculenet") / f"{name}.csv"
    options.pop("path", None)
    data = build_smiles(path=path, data_dir=data_dir, **options)  # type: ignore[arg-type]
    data.name = name
    return data
