"""A tiny trained run directory for the tests of the day-to-day commands (a second or two), and a PNG check."""

from __future__ import annotations

import struct
from pathlib import Path

from gatedgcn.app import launch
from gatedgcn.app.config import Config

TINY = [
    "data.num_train=16",
    "data.num_val=8",
    "data.num_test=16",
    "model.hidden=16",
    "model.layers=2",
    "train.epochs=3",
    "train.batch_size=8",
]


def train_tiny(out: Path, *sets: str) -> Path:
    """Train the mini set briefly into ``out`` (extra ``section.key=value`` overrides in ``sets``)."""
    launch.train(Config().with_overrides(TINY + list(sets)), out, progress=False)
    return out


def png_size(path: Path) -> tuple[int, int]:
    """Width and height of a PNG file, after checking its signature and header chunk."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f"{path} is not a PNG file"
    return struct.unpack(">II", data[16:24])
