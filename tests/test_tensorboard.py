"""TensorBoard logging: the scalars are the epoch records, the histograms are the model's gates."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gatedgcn import collate
from gatedgcn.app.tensorboard import TensorBoardLogger, scalars
from gatedgcn.cli import main
from gatedgcn.data.mini import mini_graphs
from gatedgcn.model import GraphNet, ModelSpec

from tiny_run import TINY


class Recorder:
    """Stands in for a SummaryWriter: keeps what it was given."""

    def __init__(self):
        self.scalars, self.histograms, self.flushes = [], [], 0

    def add_scalar(self, tag, value, step):
        self.scalars.append((tag, value, step))

    def add_histogram(self, tag, values, step):
        self.histograms.append((tag, values.clone(), step))

    def flush(self):
        self.flushes += 1


def test_scalars_of_a_record():
    record = {"epoch": 3, "lr": 1e-3, "seconds": 2.5, "train": {"loss": 0.5, "accuracy": 0.75}, "val": {"loss": 0.625}}
    assert scalars(record) == {"lr": 1e-3, "seconds": 2.5, "loss/train": 0.5, "accuracy/train": 0.75, "loss/val": 0.625}


def test_histograms_are_the_gates_of_the_fixed_batch():
    batch = collate(mini_graphs(6, 10, 14, np.random.default_rng(0)))
    vocab = int(batch.x.max()) + 1  # the mini set's node feature: the in-degree as a category id
    model = GraphNet(
        ModelSpec(layer="gated_gcn", layers=2, hidden=8, in_dim=0, node_vocab=vocab, edge_in_dim=1)
    ).train()
    running = model.layers[0].bn_h.running_mean.clone()
    writer = Recorder()
    logger = TensorBoardLogger(writer, model, batch)
    logger({"epoch": 4, "lr": 0.01, "train": {"loss": 1.0}})
    assert writer.scalars == [("lr", 0.01, 4), ("loss/train", 1.0, 4)] and writer.flushes == 1
    assert model.training and torch.equal(
        model.layers[0].bn_h.running_mean, running
    )  # mode and BN statistics untouched
    model.eval()
    with torch.no_grad():
        _, expected = model(batch, return_weights=True)
    assert [(tag, step) for tag, _, step in writer.histograms] == [("weights/layer0", 4), ("weights/layer1", 4)]
    for (_, values, _), eta in zip(writer.histograms, expected):
        assert values.shape == (batch.num_edges, 8) and torch.equal(values, eta)


def test_train_with_tensorboard_writes_event_files(tmp_path):
    pytest.importorskip("tensorboard")  # installed by `make test` (the test extra); optional elsewhere
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    sets = [arg for s in TINY for arg in ("--set", s)]
    assert main(["train", "--out", str(out), "--tensorboard", "--quiet", *sets]) == 0
    events = EventAccumulator(str(out / "tensorboard"), size_guidance={"histograms": 0, "scalars": 0})
    events.Reload()
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    logged = [(e.step, e.value) for e in events.Scalars("loss/val")]
    assert logged == [(r["epoch"], pytest.approx(r["val"]["loss"], rel=1e-6)) for r in records]
    assert set(events.Tags()["histograms"]) == {"weights/layer0", "weights/layer1"}
    assert events.Tags()["graph"]
