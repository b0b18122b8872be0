"""Tiny runs for the tests: command-line arguments from keywords, a tiny trained run directory for the tests of the
day-to-day commands (a second or two), and a PNG check."""

from __future__ import annotations

import struct
from pathlib import Path

from gatedgcn.app import launch
from gatedgcn.app.config import Config

SMALL = {"data.num_train": 16, "data.num_val": 8, "data.num_test": 8}  # the mini set, a few graphs per split


def argv(*, sets: dict[str, object] | None = None, **flags: object) -> list[str]:
    """Command-line arguments from keywords: ``batch_size=8`` -> ``--batch-size 8``, ``quiet=True`` -> ``--quiet``,
    and one ``--set KEY=VALUE`` per entry of ``sets``, in the order given."""
    out: list[str] = []
    for name, value in flags.items():
        flag = "--" + name.replace("_", "-")
        out += [flag] if value is True else [flag, str(value)]
    for key, value in (sets or {}).items():
        out += ["--set", f"{key}={value}"]
    return out


# a small SBM_CLUSTER run of one epoch (its generator, cache and progress bar)
CLUSTER_TINY = argv(
    dataset="SBM_CLUSTER",
    hidden=8,
    layers=1,
    epochs=1,
    batch_size=4,
    sets={"data.num_train": 4, "data.num_val": 2, "data.num_test": 2},
)
# the data-parallel runs: float64, so that 2 processes and 1 agree to 1e-10
DDP_TINY = dict(quiet=True, hidden=8, layers=2, batch_size=8, lr=0.01)
DDP_SETS = {"data.num_train": 32, "data.num_val": 8, "data.num_test": 8, "train.dtype": "float64"}
# a finished mini run in two epochs, a checkpoint after every step (the fault and hostile-input tests)
FAULT_TINY = argv(quiet=True, hidden=8, layers=1, epochs=2, batch_size=8, lr=0.01, checkpoint_minutes=0, sets=SMALL)

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
