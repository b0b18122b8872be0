"""A trained run in one call, and prediction with it: one row per graph, node or edge.

    run = gatedgcn.load("runs/default")          # model (eval mode), config, dataset, predict
    rows = run.predict(run.dataset.splits["test"])
    write_rows(rows, "pred.csv")                 # or .jsonl

A row names where it belongs (``graph``, and ``node`` or ``edge``/``sender``/``receiver``),
then the prediction: ``pred``, ``class`` and ``p_<class>`` for a classification (the softmax
of the output), ``value`` (or ``value_0, value_1, ...``) for a regression, and ``target``
when the input graph carries one.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from gatedgcn.app.config import Config
from gatedgcn.app.encoding import fitted_stored_spec, stored_dataset
from gatedgcn.app.experiment import DTYPES, Experiment, init_model, load_run
from gatedgcn.data import Dataset, Task
from gatedgcn.errors import ConfigError, GatedGCNError, GraphError
from gatedgcn.graph import Batch, Graph, collate
from gatedgcn.model import GraphNet, ModelSpec
from gatedgcn.train.run import RunDir

__all__ = ["Loaded", "Predictor", "load", "device_of", "write_rows", "check_inputs"]

PROGRESS_FROM = 2000  # graphs: a progress bar is shown from this many inputs on (unless told)


def device_of(name: str | torch.device) -> torch.device:
    """``cpu`` / ``cuda`` / ``cuda:k`` as a device; CUDA asked for where there is none is refused."""
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r}: CUDA is not available on this machine; use --device cpu")
    return device


def check_inputs(graphs: Sequence[Graph], spec: ModelSpec) -> None:
    """Refuse graphs whose features do not fit the model, naming the graph and what differs."""
    for k, g in enumerate(graphs):
        if not isinstance(g, Graph):
            raise GraphError(f"input {k} is a {type(g).__name__}, not a gatedgcn Graph")
        where = f"input graph {k} ({g.name})"
        if spec.node_vocab:
            if g.x.is_floating_point():
                raise GraphError(f"{where}: the model expects node category ids x [N] (integers), got float features")
            if g.x.numel() and int(g.x.max()) >= spec.node_vocab:
                raise GraphError(
                    f"{where}: node category {int(g.x.max())} is outside the model's {spec.node_vocab} categories"
                )
        elif not g.x.is_floating_point() or g.x.dim() != 2 or g.x.shape[1] != spec.in_dim:
            raise GraphError(
                f"{where}: the model expects float node features x [N, {spec.in_dim}], got {g.x.dtype} {list(g.x.shape)}"
            )
        if spec.layer == "gated_gcn" and spec.edge_in_dim:
            e = g.edge_attr
            if e is None or e.dim() != 2 or e.shape[1] != spec.edge_in_dim:
                got = "none" if e is None else list(e.shape)
                raise GraphError(
                    f"{where}: the model expects edge features edge_attr [E, {spec.edge_in_dim}], got {got}"
                )


@dataclass
class Predictor:
    """``predictor(graphs) -> rows``: the model in eval mode over batches of ``graphs``, no gradients."""

    model: GraphNet
    task: Task
    classes: tuple[str, ...] | None = None
    batch_size: int = 64
    device: torch.device = torch.device("cpu")
    targets: tuple[str, ...] | None = None  # names of the regression targets / multilabel tasks

    def outputs(self, graphs: Sequence[Graph], *, progress: bool | None = None) -> list[tuple[Batch, Tensor]]:
        """Each batch (on the CPU) with the model's raw output for it."""
        check_inputs(graphs, self.model.spec)
        self.model.eval()
        show = len(graphs) >= PROGRESS_FROM if progress is None else progress
        starts = range(0, len(graphs), self.batch_size)
        result = []
        with torch.no_grad():
            for start in tqdm(starts, desc="predict", unit="batch", disable=not show):
                batch = collate(graphs[start : start + self.batch_size])
                out = self.model(batch.to(self.device))  # [B | N | E, out]
                result.append((batch, out.cpu()))
        return result

    def __call__(self, graphs: Sequence[Graph], *, progress: bool | None = None) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        first = 0
        for batch, out in self.outputs(graphs, progress=progress):
            rows += [
                {**where, **self._values(o), **_target(batch.y, r)}
                for r, (where, o) in enumerate(zip(_places(batch, self.task.level, first), out))
            ]
            first += batch.num_graphs
        return rows

    def _values(self, out: Tensor) -> dict[str, Any]:
        """One row's prediction from its output ``[C]`` (logits) or ``[k]`` (values)."""
        if self.task.kind == "regression":
            values = out.double().reshape(-1).tolist()
            if self.targets and len(self.targets) == len(values):
                return dict(zip(self.targets, values))
            return {"value": values[0]} if len(values) == 1 else {f"value_{k}": v for k, v in enumerate(values)}
        if self.task.kind == "multilabel":  # one sigmoid per task
            ps = torch.sigmoid(out.double().reshape(-1)).tolist()
            names = self.targets if self.targets and len(self.targets) == len(ps) else tuple(map(str, range(len(ps))))
            return {f"p_{name}": v for name, v in zip(names, ps)}
        p = torch.softmax(out.double(), dim=-1)  # [C]
        pred = int(p.argmax())
        names = self.classes or tuple(str(c) for c in range(p.shape[0]))
        return {"pred": pred, "class": names[pred], **{f"p_{name}": float(v) for name, v in zip(names, p)}}


def _places(batch: Batch, level: str, first: int) -> list[dict[str, int]]:
    """Where each output row belongs: its graph (numbered from ``first``) and its node or edge in that graph."""
    if level == "graph":
        return [{"graph": first + b} for b in range(batch.num_graphs)]
    node_start = torch.cumsum(batch.nodes_per_graph, 0) - batch.nodes_per_graph  # [B]
    if level == "node":
        local = torch.arange(batch.num_nodes) - node_start[batch.node_graph]  # [N]
        return [{"graph": first + b, "node": v} for b, v in zip(batch.node_graph.tolist(), local.tolist())]
    edge_graph = batch.edge_graph  # [E]
    edge_start = torch.cumsum(batch.edges_per_graph, 0) - batch.edges_per_graph  # [B]
    local = torch.arange(batch.num_edges) - edge_start[edge_graph]  # [E]
    j, i = batch.edge_index - node_start[edge_graph]  # local sender, receiver ids: [E] each
    return [
        {"graph": first + b, "edge": k, "sender": s, "receiver": r}
        for b, k, s, r in zip(edge_graph.tolist(), local.tolist(), j.tolist(), i.tolist())
    ]


def _target(y: Tensor | None, row: int) -> dict[str, Any]:
    if y is None or y.dim() != 1:
        return {}
    value = y[row]
    if value.is_floating_point():
        return {} if bool(torch.isnan(value)) else {"target": float(value)}
    return {} if int(value) < 0 else {"target": int(value)}


@dataclass
class Loaded:
    """A trained run: its model (eval mode, on ``device``), config, a ready predictor, and ``encoded``: its dataset's
    task and encoding as the run stored them (no graphs; the whole dataset where the run did not store them).
    ``dataset``, the whole dataset with its splits, is built again on first use."""

    model: GraphNet
    config: Config
    encoded: Dataset
    predict: Predictor
    run: RunDir

    @property
    def dataset(self) -> Dataset:
        if not self.encoded.splits:  # built as the run's model was: a dataset that does not fit it is refused
            self.encoded = Experiment.of_run(self.run, self.config).data
        return self.encoded


def load(run_dir: str | Path, *, device: str | torch.device = "cpu", batch_size: int | None = None) -> Loaded:
    """Rebuild the model of a run directory (from the spec stored with it; for older runs, the dataset fixes the
    input and output sizes) and load its weights."""
    run = RunDir.open(run_dir)
    config = Config.load(run.config_path)
    spec, data = run.stored_spec(), stored_dataset(run.read_summary(), config.data.name, str(run.path / run.SUMMARY))
    if spec is None or data is None:  # a run from before summary.json kept its encoding: the dataset is rebuilt
        _, exp = load_run(run_dir)
        model, data = exp.model, exp.data
    else:
        model = init_model(fitted_stored_spec(run, config, spec, data), config.train.seed).to(
            DTYPES[config.train.dtype]
        )
        run.load_weights(model)
    target = device_of(device)
    model = model.to(target).eval()
    classes, targets = data.info.get("classes"), data.info.get("targets")
    predictor = Predictor(
        model,
        data.task,
        tuple(classes) if classes else None,
        batch_size or config.train.batch_size,
        target,
        tuple(targets) if targets else None,
    )
    return Loaded(model, config, data, predictor, run)


def write_rows(rows: Sequence[dict[str, Any]], path: str | Path | None = None) -> None:
    """Rows as CSV (``.csv``, or standard output when ``path`` is None) or JSON lines (``.jsonl`` / ``.json``)."""
    fmt = "csv" if path is None else Path(path).suffix.lower().lstrip(".")
    if fmt not in ("csv", "jsonl", "json"):
        raise GatedGCNError(f"--out {path}: unknown output format {fmt!r}; use a .csv or .jsonl file")
    if fmt == "csv":
        buffer = io.StringIO()
        columns = list(dict.fromkeys(key for row in rows for key in row))
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        text = buffer.getvalue()
    else:
        text = "".join(json.dumps(row) + "\n" for row in rows)
    if path is None:
        sys.stdout.write(text)
        return
    try:
        Path(path).write_text(text)
    except OSError as err:
        raise GatedGCNError(f"cannot write predictions to {path}: {err.strerror}") from None
