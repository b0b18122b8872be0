"""Learning curves of one or more runs: loss and main metric per split against the epoch.

Read from each run's ``metrics.jsonl``; each run gets a colour, each split a line style
(train solid, val dashed, test dotted), and every epoch at which the learning rate changed
is marked by a vertical line in the run's colour.  Written as PNG and SVG with matplotlib's
Agg canvas (no pyplot, no global backend switch).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from gatedgcn.errors import RunDirError
from gatedgcn.train.run import RunDir

__all__ = ["Curves", "read_curves", "lr_changes", "plot_curves", "save_figure"]

STYLES = {"train": "-", "val": "--", "test": ":"}
FORMATS = ("png", "svg")


@dataclass(frozen=True)
class Curves:
    """One run's history: per split and quantity (``loss`` or the metric) the value at each epoch."""

    label: str
    metric: str
    epochs: list[int]
    lr: list[float]
    values: dict[str, dict[str, list[float]]]  # split -> quantity -> [epochs]


def read_curves(run_dir: str | Path, label: str | None = None) -> Curves:
    run = RunDir.open(run_dir)
    records = run.read_metrics()
    if not records:
        raise RunDirError(f"{run.path}: no epochs in {RunDir.METRICS}, nothing to plot")
    splits = [k for k, v in records[0].items() if isinstance(v, dict)]
    metric = next((q for q in records[0][splits[0]] if q != "loss"), "loss") if splits else "loss"
    values = {s: {q: [r[s][q] for r in records] for q in records[0][s]} for s in splits}
    return Curves(label or run.path.name, metric, [r["epoch"] for r in records], [r["lr"] for r in records], values)


def lr_changes(curves: Curves) -> list[tuple[int, float]]:
    """``(epoch, new lr)`` for every epoch whose learning rate differs from the epoch before."""
    return [(e, lr) for e, lr, prev in zip(curves.epochs[1:], curves.lr[1:], curves.lr) if lr != prev]


def plot_curves(runs: Sequence[Curves]) -> Figure:
    """Two panels, loss and the main metric, with every run overlaid."""
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    loss_ax, metric_ax = fig.subplots(1, 2)
    colours = [f"C{k % 10}" for k in range(len(runs))]
    for curves, colour in zip(runs, colours):
        for split, quantities in curves.values.items():
            style = STYLES.get(split, "-.")
            loss_ax.plot(curves.epochs, quantities["loss"], style, color=colour, label=f"{curves.label} {split}")
            if curves.metric in quantities:
                metric_ax.plot(
                    curves.epochs, quantities[curves.metric], style, color=colour, label=f"{curves.label} {split}"
                )
        for k, (epoch, lr) in enumerate(lr_changes(curves)):
            for ax in (loss_ax, metric_ax):
                ax.axvline(
                    epoch - 0.5,
                    color=colour,
                    linewidth=0.8,
                    alpha=0.6,
                    linestyle=(0, (1, 3)),
                    label=f"{curves.label} lr change" if k == 0 and ax is loss_ax else None,
                )
            metric_ax.annotate(
                f"lr {lr:.1e}",
                (epoch - 0.5, 0.02),
                xycoords=("data", "axes fraction"),
                rotation=90,
                va="bottom",
                ha="right",
                fontsize=7,
                color=colour,
            )
    metrics = sorted({c.metric for c in runs})
    loss_ax.set(xlabel="epoch", ylabel="loss", title="loss")
    metric_ax.set(xlabel="epoch", ylabel=" / ".join(metrics), title=" / ".join(metrics))
    for ax in (loss_ax, metric_ax):
        ax.grid(alpha=0.3)
    loss_ax.legend(fontsize=7, ncol=1 if len(runs) < 3 else 2)
    return fig


def save_figure(fig: Figure, stem: str | Path, formats: Sequence[str] = FORMATS, dpi: int = 120) -> list[Path]:
    """``fig`` as ``stem.png``, ``stem.svg`` (the folder is created); returns the paths written."""
    stem = Path(stem)
    if stem.suffix.lower().lstrip(".") in FORMATS:
        stem = stem.with_suffix("")
    stem.parent.mkdir(parents=True, exist_ok=True)
    canvas = FigureCanvasAgg(fig)
    paths = []
    for fmt in formats:
        path = stem.with_name(f"{stem.name}.{fmt}")
        try:
            canvas.print_figure(path, format=fmt, dpi=dpi)
        except OSError as err:
            raise RunDirError(f"cannot write figure {path}: {err.strerror}") from None
        paths.append(path)
    return paths


def plot_runs(run_dirs: Sequence[str | Path], out: str | Path | None = None) -> list[Path]:
    """``gatedgcn plot``: the curves of ``run_dirs`` to ``out``.png/.svg (default: RUN_DIR/curves for one run)."""
    if not run_dirs:
        raise RunDirError("plot: name at least one run directory")
    paths = [Path(p) for p in run_dirs]
    names = [p.name for p in paths]
    labels = names if len(set(names)) == len(names) else [str(p) for p in paths]
    curves = [read_curves(p, label) for p, label in zip(paths, labels)]
    return save_figure(plot_curves(curves), out or (paths[0] / "curves" if len(paths) == 1 else "curves"))
