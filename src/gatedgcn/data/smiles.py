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

import csv
import gzip
import hashlib
import io
import warnings
from dataclasses import dataclass
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
SPLITS = ("scaffold", "random")  # or a column name
SPLIT_NAMES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
SHOW_ROWS = 5  # rows named in the warning about unreadable SMILES


@dataclass
class SmilesTable:
    """The rows of a SMILES file.  Shapes: targets ``[R, k]`` float64, NaN where a cell is empty."""

    path: Path
    columns: list[str]
    smiles_column: str
    target_columns: list[str]
    smiles: list[str]
    targets: np.ndarray
    cells: list[list[str]]  # every row's cells, in the order of ``columns``
    lines: list[int]  # the line of each row in the file


MAX_TEXT = 1 << 28  # bytes of CSV text (unpacked) a SMILES file may hold: 256 MiB, ~5x the largest MoleculeNet file


def _text(path: Path) -> str:
    try:
        if path.suffix.lower() == ".gz":
            with gzip.open(path, "rb") as f:
                data = f.read(MAX_TEXT + 1)  # bounded: a small .gz may unpack to gigabytes
        else:
            with path.open("rb") as f:
                data = f.read(MAX_TEXT + 1)
        if len(data) > MAX_TEXT:
            raise DataError(f"{path}: more than {MAX_TEXT >> 20} MiB of CSV text (unpacked); split the file")
        return data.decode("utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, EOFError) as err:
        raise DataError(f"{path}: cannot read: {getattr(err, 'strerror', None) or err}") from None
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text (byte {err.start})") from None


def _smiles_column(path: Path, columns: list[str], given: str | None) -> str:
    if given:
        if given not in columns:
            raise DataError(f"{path}: no SMILES column {given!r} (data.smiles_column); columns: {', '.join(columns)}")
        return given
    named = [c for c in columns if c.strip().lower() == "smiles"]
    if not named:
        raise DataError(
            f"{path}: no column named 'smiles'; name the SMILES column with data.smiles_column (columns: {', '.join(columns)})"
        )
    return named[0]


def _is_number(text: str) -> bool:
    try:
        return bool(np.isfinite(float(text)))
    except ValueError:
        return False


def _target_columns(path: Path, columns: list[str], rows: list[list[str]], smiles: str, given: str | None) -> list[str]:
    if given:
        names = [c.strip() for c in given.split(",") if c.strip()]
        missing = [c for c in names if c not in columns]
        if missing:
            raise DataError(f"{path}: no target column {missing[0]!r} (data.targets); columns: {', '.join(columns)}")
        return names
    numeric = [
        c
        for k, c in enumerate(columns)
        if c != smiles and any(r[k].strip() for r in rows) and all(_is_number(r[k]) for r in rows if r[k].strip())
    ]
    if not numeric:
        raise DataError(f"{path}: no numeric column besides {smiles!r} to predict; name the targets with data.targets")
    return numeric


def read_smiles_table(path: str | Path, smiles_column: str | None = None, targets: str | None = None) -> SmilesTable:
    """The SMILES (stripped), targets and cells of a CSV file; errors name the file, line and column."""
    path = Path(path)
    reader = csv.reader(io.StringIO(_text(path)))
    try:
        records = [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]
    except csv.Error as err:
        raise DataError(f"{path}, line {reader.line_num}: not valid CSV ({err})") from None
    if not records:
        raise DataError(f"{path}: file is empty")
    columns = [c.strip() for c in records[0][1]]
    body = records[1:]
    for line, row in body:
        if len(row) != len(columns):
            raise DataError(f"{path}, line {line}: {len(row)} cells, the header has {len(columns)}")
    if not body:
        raise DataError(f"{path}: has a header but no rows")
    cells = [row for _, row in body]
    smiles = _smiles_column(path, columns, smiles_column)
    names = _target_columns(path, columns, cells, smiles, targets)
    index = [columns.index(c) for c in names]
    values = np.full((len(cells), len(names)), np.nan)  # [R, k]
    for r, (line, row) in enumerate(body):
        for t, k in enumerate(index):
            text = row[k].strip()
            if not text:
                continue
            if not _is_number(text):
                raise DataError(f"{path}, line {line}: target {names[t]} = {text!r} is not a number")
            values[r, t] = float(text)
    s = columns.index(smiles)
    return SmilesTable(
        path, columns, smiles, names, [row[s].strip() for row in cells], values, cells, [ln for ln, _ in body]
    )


def scaffolds_of(mols: list) -> list[str]:
    """The Bemis-Murcko scaffold SMILES of each molecule, with chirality ("" for one RDKit cannot reduce)."""
    from rdkit import rdBase
    from rdkit.Chem.Scaffolds import MurckoScaffold

    out = []
    with rdBase.BlockLogs():
        for m in mols:
            try:
                out.append(MurckoScaffold.MurckoScaffoldSmiles(mol=m, includeChirality=True))
            except (RuntimeError, ValueError):  # an unsanitised molecule RDKit cannot take apart
                out.append("")
    return out


def _scaffold_split(scaffolds: list[str]) -> dict[str, list[int]]:
    from gatedgcn.data.molecules import scaffold_split

    return scaffold_split(scaffolds)


def split_rows(table: SmilesTable, keep: list[int], mols: list, split: str, seed: int) -> dict[str, list[int]]:
    """Positions in ``keep`` (the readable rows) per split, as ``data.split`` says."""
    n = len(keep)
    if split == "scaffold":
        parts = _scaffold_split(scaffolds_of(mols))
    elif split == "random":
        order = np.random.default_rng(seed).permutation(n)
        n_val = n_test = int(round(0.1 * n))
        cut = n - n_val - n_test
        parts = {"train": order[:cut], "val": order[cut : cut + n_val], "test": order[cut + n_val :]}
        parts = {k: sorted(v.tolist()) for k, v in parts.items()}
    elif split in table.columns:
        k = table.columns.index(split)
        parts = {"train": [], "val": [], "test": []}
        for pos, r in enumerate(keep):
            cell = table.cells[r][k].strip().lower()
            if cell not in SPLIT_NAMES:
                raise DataError(
                    f"{table.path}, line {table.lines[r]}: split column {split} = {cell!r}; expected train, val or test"
                )
            parts[SPLIT_NAMES[cell]].append(pos)
    else:
        raise ConfigError(f"data.split must be scaffold, random or a column of {table.path}; got {split!r}")
    for name in ("train", "val", "test"):
        if not parts[name]:
            hint = "use data.split=random" if split == "scaffold" else "give every split some rows"
            raise DataError(f"{table.path}: the {split} split leaves 0 molecules for {_role(name)}: {hint}")
    return parts


def _role(split: str) -> str:
    return {"train": "training", "val": "validation", "test": "testing"}[split]


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
    if path is None:
        raise ConfigError("dataset 'smiles' reads the user's CSV of SMILES: give it with --data-path FILE.csv")
    path = Path(path)
    if not path.is_absolute() and not path.exists() and data_dir is not None and (Path(data_dir) / path).is_file():
        path = Path(data_dir) / path  # a relative path inside the data folder (the presets' molecules/...)
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
