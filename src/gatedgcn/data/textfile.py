"""Numeric tables in text files, read with the file and line named in every error.

One row per non-blank line, values separated by commas and/or white space (the TU format
writes ``1, 2``; hand-written edge lists use commas or tabs).  Every row must have the same
number of values; a bad value, a short row or an empty file raise :class:`DataError`.
"""

from __future__ import annotations

import re
import stat
from pathlib import Path

import numpy as np

from gatedgcn.errors import ConfigError, DataError

__all__ = ["dataset_folder", "read_text", "read_table", "split_row", "parse_number", "shown"]

_SEPARATORS = re.compile(r"[,\s]+")


def dataset_folder(data_dir: Path | None, name: str, *parts: str) -> Path:
    """``data_dir/parts...``; no data folder at all is a :class:`ConfigError` naming the ways to give one."""
    if data_dir is None:
        raise ConfigError(
            f"dataset {name!r} is read from files: give the data folder with --data-dir, data.data_dir or $GATEDGCN_DATA_DIR"
        )
    return Path(data_dir).joinpath(*parts)


def read_text(path: Path) -> str:
    """The file as text; a missing, unreadable or non-UTF-8 file raises :class:`DataError`."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):  # a device (/dev/zero) or a fifo would be read forever
            raise DataError(f"{path}: not a plain file")
        return path.read_bytes().decode("utf-8")
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as err:
        raise DataError(f"{path}: cannot read: {err.strerror}") from None
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text (byte {err.start})") from None


def split_row(line: str) -> list[str]:
    """The values of one line: ``" 1, 2 "`` -> ``["1", "2"]``."""
    return [v for v in _SEPARATORS.split(line.strip()) if v]


def parse_number(value: str, kind: type, where: str) -> int | float:
    """``int(value)`` or a finite ``float(value)``; otherwise :class:`DataError` prefixed by ``where`` (file:line)."""
    try:
        number = kind(value)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise DataError(f"{where}: expected {what}, got {shown(value)}") from None
    if kind is float and not np.isfinite(number):
        raise DataError(f"{where}: value {shown(value)} is not finite")
    return number


def shown(value: object, limit: int = 40) -> str:
    """``repr(value)``, cut after ``limit`` characters with its length said: an error line stays one short line."""
    text = repr(value)
    return text if len(text) <= limit + 2 else f"{text[:limit]}... ({len(text):,} characters)"


def read_table(path: Path, kind: type = int, *, columns: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The rows of ``path`` as an array and the line number of each row.

    ``kind`` is ``int`` or ``float``; ``columns`` fixes the row width (``None``: the width of the
    first row).  Shapes: -> values ``[R, C]``, line numbers ``[R]`` (1-based).
    """
    rows, lines = [], []
    for lineno, line in enumerate(read_text(path).splitlines(), start=1):
        values = split_row(line)
        if not values:
            continue
        if columns is None:
            columns = len(values)
        if len(values) != columns:
            raise DataError(f"{path}:{lineno}: expected {columns} value(s) per line, got {len(values)}")
        rows.append([parse_number(v, kind, f"{path}:{lineno}") for v in values])
        lines.append(lineno)
    if not rows:
        raise DataError(f"{path}: file is empty")
    dtype = np.int64 if kind is int else np.float64
    try:
        table = np.array(rows, dtype=dtype)  # [R, C]
    except OverflowError:
        raise DataError(f"{path}: an integer does not fit in 64 bits") from None
    return table, np.array(lines, dtype=np.int64)
