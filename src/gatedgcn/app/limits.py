"""The ranges every numeric config key must keep, beyond its type: finite floats, seeds numpy and torch
accept, and sizes with an upper bound that says, when passed, what the value would have cost.

:func:`check_limits` takes the resolved config as ``{section: {key: value}}`` and raises
:class:`ConfigError` naming the first key out of range.  The bounds are far beyond any run of the
benchmarks (a width of 65,536, 10^7 graphs, 10^4 nodes a generated graph) and far below what would
exhaust a machine before the first epoch.
"""

from __future__ import annotations

import math
from typing import Any

from gatedgcn.errors import ConfigError

__all__ = ["SEED_LIMIT", "UPPER", "check_limits"]

SEED_LIMIT = 2**32  # numpy's legacy seed (np.random.seed) takes [0, 2^32)

# key -> the largest value allowed
UPPER = {
    "data.num_train": 10**7,
    "data.num_val": 10**7,
    "data.num_test": 10**7,
    "data.min_nodes": 10**4,
    "data.max_nodes": 10**4 + 1,  # exclusive: generated graphs of up to 10,000 nodes
    "data.workers": 256,
    "data.pe_dim": 1024,
    "data.folds": 1000,
    "model.layers": 1024,
    "model.hidden": 65_536,
    "model.heads": 1024,
    "train.epochs": 10**7,
    "train.batch_size": 10**7,
    "train.keep_checkpoints": 1000,
    "train.max_nonfinite_steps": 10**6,
    "train.lr_patience": 10**7,
    "train.inference_chunk": 2**31,
}


def _cost(key: str, value: int, config: dict[str, dict[str, Any]]) -> str:
    """What ``value`` at ``key`` would take, in words (empty where no simple figure exists)."""
    if key == "model.hidden":
        weights = 5 * 4 * value * value * config["model"].get("layers", 1)  # five [d, d] float32 matrices a layer
        return f": its weights alone would take {_bytes(weights)}"
    if key in ("data.max_nodes", "data.min_nodes"):
        return (
            f": one generated graph's [N, N] distances (TSP) or pairs (a clique) would take {_bytes(8 * value * value)}"
        )
    if key.startswith("data.num_"):
        return f": {value:,} generated graphs of ~100 nodes would take about {_bytes(value * 100 * 400)}"
    if key == "data.workers":
        return f": {value:,} processes, each with its own copy of torch"
    return ""


def _bytes(n: float) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n:,.0f} bytes"


def check_limits(config: dict[str, dict[str, Any]]) -> None:
    """Raise :class:`ConfigError` for the first key of ``config`` out of its range (see the module docstring)."""
    for section, values in config.items():
        for name, value in values.items():
            key = f"{section}.{name}"
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"{key} must be a finite number, got {value}")
            if isinstance(value, bool) or not isinstance(value, int):
                continue
            if name == "seed" and not 0 <= value < SEED_LIMIT:
                raise ConfigError(f"{key} must be in [0, 2^32), got {value}")
            if key in UPPER and value > UPPER[key]:
                raise ConfigError(f"{key} must be <= {UPPER[key]:,}, got {value:,}{_cost(key, value, config)}")
    model = config.get("model", {})
    hidden, halvings = model.get("hidden"), model.get("head_layers")
    if isinstance(hidden, int) and isinstance(halvings, int) and halvings > 0 and hidden >> halvings < 1:
        raise ConfigError(
            f"model.head_layers={halvings} halves model.hidden={hidden} to a width of 0 "
            f"(at most {hidden.bit_length() - 1} halvings of {hidden})"
        )
