"""A tiny trained run directory for the tests of the day-to-day commands (a second or two)."""

from __future__ import annotations

from pathlib import Path

from gatedgcn import experiment
from gatedgcn.config import Config

TINY = ["data.num_train=16", "data.num_val=8", "data.num_test=16", "model.hidden=16", "model.layers=2",
        "train.epochs=3", "train.batch_size=8"]


def train_tiny(out: Path, *sets: str) -> Path:
    """Train the mini set briefly into ``out`` (extra ``section.key=value`` overrides in ``sets``)."""
    experiment.train(Config().with_overrides(TINY + list(sets)), out, progress=False)
    return out
