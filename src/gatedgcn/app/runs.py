"""The runs under a folder as a table, and their configs side by side.

A run is a folder holding ``config.yaml``; its row comes from the config, ``summary.json``
(parameters, test metric) and ``metrics.jsonl`` (the best validation metric over the epochs,
the training time as the sum of the epochs' seconds).  A run still going (no summary yet)
gets its row with the missing cells empty.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from gatedgcn.errors import GatedGCNError, RunDirError
from gatedgcn.train.metrics import HIGHER_IS_BETTER
from gatedgcn.train.run import RunDir

__all__ = ["COLUMNS", "find_runs", "run_row", "runs_table", "format_table", "compare_configs"]

COLUMNS = (
    "run",
    "dataset",
    "model",
    "layers",
    "hidden",
    "parameters",
    "metric",
    "best_val",
    "best_epoch",
    "test",
    "epochs",
    "seconds",
)


def find_runs(roots: Sequence[str | Path]) -> list[Path]:
    """Every run directory at or below ``roots``, in path order."""
    found: set[Path] = set()
    for root in map(Path, roots):
        if not root.is_dir():
            raise RunDirError(f"{root}: no such folder of runs")
        found.update(p.parent for p in root.rglob(RunDir.CONFIG) if p.is_file())
    return sorted(found)


def _best(records: list[dict[str, Any]], metric: str) -> tuple[float | None, int | None]:
    """The best validation value of ``metric`` over the epochs and its epoch."""
    scored = [(r["val"][metric], r["epoch"]) for r in records if isinstance(r.get("val"), dict) and metric in r["val"]]
    scored = [(v, e) for v, e in scored if v is not None and not math.isnan(v)]
    if not scored:
        return None, None
    sign = 1 if HIGHER_IS_BETTER.get(metric, True) else -1
    return max(scored, key=lambda ve: (sign * ve[0], -ve[1]))


def run_row(path: str | Path, root: str | Path | None = None) -> dict[str, Any]:
    """One run's row of :data:`COLUMNS` (``None`` where a value is not known yet)."""
    run = RunDir.open(path)
    try:
        config = yaml.safe_load(run.config_path.read_text()) or {}
    except yaml.YAMLError as err:
        raise RunDirError(f"{run.config_path}: not valid YAML: {err}") from None
    summary = run.read_summary()
    try:
        records = run.read_metrics()
    except json.JSONDecodeError as err:
        raise RunDirError(f"{run.path / RunDir.METRICS}: line {err.lineno} is not valid JSON") from None
    model, data = config.get("model", {}), config.get("data", {})
    metric = summary.get("metric") or next((k for r in records[:1] for k in r.get("val", {}) if k != "loss"), None)
    best, epoch = _best(records, metric) if metric else (None, None)
    inside = root is not None and run.path != Path(root) and run.path.is_relative_to(root)
    name = run.path.relative_to(root) if inside and root is not None else run.path
    return {
        "run": str(name),
        "dataset": summary.get("dataset", data.get("name")),
        "model": summary.get("model", model.get("layer")),
        "layers": model.get("layers"),
        "hidden": model.get("hidden"),
        "parameters": summary.get("parameters"),
        "metric": metric,
        "best_val": best,
        "best_epoch": epoch,
        "test": summary.get("test", {}).get(metric) if metric else None,
        "epochs": summary.get("epochs", len(records) or None),
        "seconds": summary.get("seconds", sum(r.get("seconds", 0.0) for r in records) if records else None),
    }


def runs_table(roots: Sequence[str | Path], *, sort: str = "run", reverse: bool = False) -> list[dict[str, Any]]:
    """The rows of every run below ``roots``, sorted by column ``sort`` (empty cells last)."""
    if sort not in COLUMNS:
        raise GatedGCNError(f"--sort {sort!r}: unknown column; columns are {', '.join(COLUMNS)}")
    rows = [run_row(path, root) for root in roots for path in find_runs([root])]
    known = sorted((r for r in rows if r[sort] is not None), key=lambda r: r[sort], reverse=reverse)
    return known + [r for r in rows if r[sort] is None]


def _cell(value: Any, column: str = "") -> str:
    if value is None:
        return "-"
    if column == "seconds":
        return f"{value:.1f}"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1000 else f"{value:.1f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def format_table(
    rows: Sequence[dict[str, Any]], columns: Sequence[str] = COLUMNS, headers: Sequence[str] | None = None
) -> str:
    """Rows as an aligned text table (numeric columns right-aligned)."""
    head = list(headers or columns)
    cells = [[_cell(r[c], c) for c in columns] for r in rows]
    widths = [max([len(h)] + [len(row[k]) for row in cells]) for k, h in enumerate(head)]
    numeric = [all(isinstance(r[c], (int, float)) or r[c] is None for r in rows) for c in columns]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()

    return "\n".join([line(head), line(["-" * w for w in widths])] + [line(row) for row in cells])


def _as_written(value: Any) -> str:
    """A config value as a YAML file would show it (``1e-05``, not a rounded ``0.0000``)."""
    if value is None:
        return "-"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _flatten(raw: dict[str, Any]) -> dict[str, Any]:
    return {
        f"{section}.{key}": value
        for section, values in raw.items()
        if isinstance(values, dict)
        for key, value in values.items()
    }


def compare_configs(paths: Sequence[str | Path], *, all_keys: bool = False) -> str:
    """The configs of runs side by side, one row per key; by default only the keys that differ."""
    if len(paths) < 2:
        raise GatedGCNError(f"--compare needs at least two runs, found {len(paths)}")
    configs = []
    for path in paths:
        run = RunDir.open(path)
        configs.append(_flatten(yaml.safe_load(run.config_path.read_text()) or {}))
    keys = list(dict.fromkeys(k for c in configs for k in c))
    differ = [k for k in keys if len({json.dumps(c.get(k)) for c in configs}) > 1]
    shown = keys if all_keys else differ
    if not shown:
        return "the configs are identical"
    columns = ["key"] + [f"run{i}" for i in range(len(paths))]
    rows = [
        {
            "key": ("* " if k in differ else "  ") + k,
            **{f"run{i}": _as_written(c.get(k)) for i, c in enumerate(configs)},
        }
        for k in shown
    ]
    return format_table(rows, columns, ["key"] + [str(p) for p in paths])
