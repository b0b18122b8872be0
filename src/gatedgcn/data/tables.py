"""Hand-written CSV / TSV tables (edge lists, node tables): rows, header, cells, names mapped to ids; and the
checks every user file shares (the file given, a node count its edges imply).

A row is one non-blank line; tabs, else commas, else white space separate its fields.  A first row is a
header when its id columns are not integers and either every later row's are, or its first field is a
column name (:data:`HEADER_NAMES`); so a file of string node ids may have a header or not.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from gatedgcn.data.textfile import parse_number, read_text, split_row
from gatedgcn.errors import ConfigError, DataError

__all__ = [
    "HEADER_NAMES",
    "MAX_IMPLIED_NODES",
    "Rows",
    "check_node_count",
    "check_width",
    "is_int",
    "names_to_ids",
    "number",
    "read_rows",
    "split_header",
    "user_path",
]

Rows = list[tuple[int, list[str]]]  # (line number, fields) per row

# First fields that make a first row a header in a file of string ids.
HEADER_NAMES = frozenset(
    ("source", "src", "from", "sender", "head", "u", "j", "node", "node_id", "id", "name", "target", "dst", "to")
)


def read_rows(path: Path) -> Rows:
    """Non-blank lines of a CSV/TSV file as ``(line number, fields)``."""
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


def is_int(text: str) -> bool:
    return text.lstrip("+-").isdigit()


def split_header(rows: Rows, id_columns: int) -> tuple[list[str] | None, Rows]:
    """The header (lower-cased names, or None) and the data rows (see the module docstring)."""
    first = rows[0][1]
    if all(is_int(f) for f in first[:id_columns]):
        return None, rows
    later_ints = len(rows) > 1 and all(is_int(f) for _, fields in rows[1:] for f in fields[:id_columns])
    if later_ints or first[0].strip().lower() in HEADER_NAMES:
        return [f.lower() for f in first], rows[1:]
    return None, rows


def number(text: str, path: Path, lineno: int, column: int, kind: type) -> Any:
    return parse_number(text, kind, f"{path}:{lineno}: column {column + 1}")


def check_width(fields: list[str], width: int, path: Path, lineno: int) -> None:
    if len(fields) != width:
        raise DataError(f"{path}:{lineno}: expected {width} columns, got {len(fields)}")


def names_to_ids(names: Iterable[str], known: list[str] | None = None) -> dict[str, int]:
    """A name -> id map: the ``known`` names in their order (a run's classes), else the distinct names sorted
    (numbers by value first, then text), so that the same labels give the same ids in every file."""
    if known is not None:
        return {name: k for k, name in enumerate(known)}
    distinct = set(names)
    order = sorted(distinct, key=lambda s: (0, int(s), "") if is_int(s) else (1, 0, s))
    return {name: k for k, name in enumerate(order)}


MAX_IMPLIED_NODES = 1 << 24  # nodes a graph may have beyond the ends of its edges, when no features list them


def check_node_count(n: int, edges: int, what: str) -> None:
    """A graph whose nodes are only implied (no feature rows) may not have more than ``2 E`` nodes, or
    :data:`MAX_IMPLIED_NODES` nodes: a stray large id would otherwise allocate features for every id below it."""
    if n > max(2 * edges, MAX_IMPLIED_NODES):
        raise DataError(
            f"{what} makes a graph of {n:,} nodes ({4 * n / 2**30:,.1f} GiB of features) from {edges:,} edges; "
            f"number the nodes 0..N-1 (or give a node table)"
        )


def user_path(path: str | Path | None, name: str) -> Path:
    """The user's file of dataset ``name`` (``data.path``); none given is a :class:`ConfigError`."""
    if path is None:
        raise ConfigError(f"dataset {name!r} reads the user's file: give it with --data-path or data.path")
    return Path(path)
