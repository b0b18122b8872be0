"""A one-line summary per epoch, with throughput, printed above the progress bars.

    epoch  3/40  lr 1.0e-04  train loss 1.2345 accuracy 0.4567 | val loss ... | 1.9 s, 290 graphs/s

Throughput counts the graphs the epoch went through (training and evaluation) per second of
the epoch.  A trainer callback: it reads the epoch record and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tqdm.auto import tqdm

__all__ = ["EpochLine", "epoch_line"]


def epoch_line(record: dict[str, Any], epochs: int, graphs: int) -> str:
    parts = [f"epoch {record['epoch']:>{len(str(epochs))}}/{epochs}", f"lr {record['lr']:.1e}"]
    splits = [
        f"{name} " + " ".join(f"{k} {v:.4f}" for k, v in values.items())
        for name, values in record.items()
        if isinstance(values, dict)
    ]
    seconds = record.get("seconds", 0.0)
    speed = f"{seconds:.1f} s, {graphs / seconds:,.0f} graphs/s" if seconds > 0 else ""
    return "  ".join(parts) + "  " + " | ".join(splits + ([speed] if speed else []))


class EpochLine:
    """Callback: print :func:`epoch_line` (through ``write``, by default tqdm's, which keeps the bars intact)."""

    def __init__(self, epochs: int, graphs: int, write: Callable[[str], None] = tqdm.write) -> None:
        self.epochs, self.graphs, self.write = epochs, graphs, write

    def __call__(self, record: dict[str, Any]) -> None:
        self.write(epoch_line(record, self.epochs, self.graphs))
