"""``gatedgcn explain RUN``: a look inside the gates of a trained run: one graph of a split (or a node's
neighbourhood in it) drawn with each edge coloured by its weight in a chosen layer, or a gallery of one graph per
class.  The weights: :mod:`gatedgcn.app.explanation`; the pictures: :mod:`gatedgcn.app.drawing`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gatedgcn.app.drawing import CMAP, CMAP_RELATIVE, colour_scale, draw, figure, gallery
from gatedgcn.app.explanation import GPS_PARTS, SYMBOL, Explanation, edge_weights, explain, neighbourhood
from gatedgcn.app.plot import save_figure
from gatedgcn.app.predict import Loaded, load
from gatedgcn.errors import GatedGCNError, GraphError
from gatedgcn.graph import Graph

__all__ = [
    "CMAP",
    "CMAP_RELATIVE",
    "GPS_PARTS",
    "SYMBOL",
    "Explanation",
    "edge_weights",
    "explain",
    "neighbourhood",
    "colour_scale",
    "draw",
    "figure",
    "gallery",
    "class_examples",
    "explain_run",
]

MAX_DRAWN_NODES = 400  # a larger graph is a hairball: ask for a node's neighbourhood instead


def class_examples(graphs: Sequence[Graph], num_classes: int) -> list[Graph]:
    """The first graph of each class (graph targets ``y``), in class order."""
    first: dict[int, Graph] = {}
    for g in graphs:
        if g.y is None or g.y.dim() != 0:
            raise GraphError(f"gallery: {g.name} has no class label (a graph target y of one integer)")
        first.setdefault(int(g.y), g)
    missing = [c for c in range(num_classes) if c not in first]
    if missing:
        raise GatedGCNError(f"gallery: no graph of class {missing[0]} in the split")
    return [first[c] for c in range(num_classes)]


def explain_run(
    run_dir: str | Path,
    *,
    graph: int = 0,
    node: int | None = None,
    hops: int | None = None,
    split: str = "test",
    layer: int = -1,
    relative: bool = False,
    gallery_of_classes: bool = False,
    out: str | Path | None = None,
    device: str = "cpu",
) -> list[Path]:
    """``gatedgcn explain``: graph ``graph`` of ``split`` (around ``node``), or a gallery of one graph per class."""
    run = load(run_dir, device=device)
    graphs = run.dataset.splits.get(split) or []
    if not graphs:
        raise GatedGCNError(
            f"--split {split}: the dataset {run.config.data.name} has no graphs there; splits: {', '.join(k for k, v in run.dataset.splits.items() if v)}"
        )
    if gallery_of_classes:
        return [_gallery_file(run, graphs, layer, relative, out)]
    if not 0 <= graph < len(graphs):
        raise GatedGCNError(f"--graph {graph}: the {split} split has graphs 0..{len(graphs) - 1}")
    parts = list(GPS_PARTS) if run.model.spec.layer == "gps" else [""]  # a gps layer: its gates and its attention
    paths: list[Path] = []
    for part in parts:
        x = explain(run.model, graphs[graph], layer, relative=relative, part=part or "gates")
        if node is not None:
            x = neighbourhood(x, node, min(2, len(run.model.layers)) if hops is None else hops)
        if x.graph.num_nodes > MAX_DRAWN_NODES:
            raise GatedGCNError(
                f"{x.graph.name} has {x.graph.num_nodes:,} nodes, too many to draw (at most {MAX_DRAWN_NODES}); "
                "draw a node's neighbourhood: --node V --hops 1"
            )
        name = (
            f"explain-{split}{graph}"
            + (f"-node{node}" if node is not None else "")
            + f"-layer{x.layer}"
            + (f"-{part}" if part else "")
            + ("-relative" if relative else "")
        )
        paths += save_figure(figure(x), _target(run.run.path / name, out, part), formats=("png",))
    return paths


def _gallery_file(run: Loaded, graphs: list[Graph], layer: int, relative: bool, out: str | Path | None) -> Path:
    """``--gallery``: the first graph of each class side by side, in one picture."""
    if run.dataset.task.level != "graph" or run.dataset.task.kind != "classification":
        raise GatedGCNError("--gallery needs a graph classification dataset (one graph per class)")
    names = run.dataset.info.get("classes") or [str(c) for c in range(run.dataset.task.num_outputs)]
    examples = [explain(run.model, g, layer, relative=relative) for g in class_examples(graphs, len(names))]
    stem = f"gallery-layer{examples[0].layer}" + ("-relative" if relative else "")
    (path,) = save_figure(gallery(examples, names), out or run.run.path / stem, formats=("png",))
    return path


def _target(default: Path, out: str | Path | None, part: str) -> Path:
    """Where a picture goes: ``default`` in the run folder, or ``out``; a gps layer's part named beside ``out``."""
    if out is None:
        return default
    target = Path(out)
    if part:  # one file per part beside the name asked for
        target = target.with_suffix("") if target.suffix.lower() in (".png", ".svg") else target
        target = target.with_name(f"{target.name}-{part}")
    return target
