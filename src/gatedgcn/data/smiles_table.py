"""A CSV (or ``.csv.gz``) of SMILES read into a table: the SMILES column, the target columns (NaN for an empty
cell), every row's cells and line.  Errors name the file, the line and the column.

Columns: the SMILES column (``smiles_column``; default the column named ``smiles`` in any case), the target
columns (``targets``, comma-separated; default every other column whose filled cells are all numbers).
"""

from __future__ import annotations

import csv
import gzip
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gatedgcn.errors import DataError

__all__ = ["MAX_TEXT", "SmilesTable", "read_csv_text", "read_smiles_table"]


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


def read_csv_text(path: Path) -> str:
    """The text of a ``.csv`` or ``.csv.gz`` file, at most :data:`MAX_TEXT` bytes of it unpacked."""
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
    reader = csv.reader(io.StringIO(read_csv_text(path)))
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
