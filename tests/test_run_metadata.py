"""What a run directory records about itself: the best validation epoch in summary.json."""

from __future__ import annotations

import json

import pytest

from gatedgcn import experiment
from tiny_run import train_tiny


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("meta") / "run", "train.epochs=4", "train.lr=0.01")


def test_summary_names_the_best_validation_epoch_of_the_metrics_file(run_dir):
    summary = json.loads((run_dir / "summary.json").read_text())
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    metric = summary["metric"]
    top = max(r["val"][metric] for r in records)
    first = next(r for r in records if r["val"][metric] == top)  # ties: the earliest epoch
    assert summary["best_val"] == {"epoch": first["epoch"], **first["val"]}
    assert 1 <= summary["best_val"]["epoch"] <= len(records)


def test_best_val_reads_the_record_of_the_best_epoch():
    history = [{"epoch": k, "train": {"loss": 1.0}, "val": {"loss": 3.0 - k, "mae": v}} for k, v in ((1, 0.9), (2, 0.4), (3, 0.6))]
    assert experiment.best_val(history, 2) == {"epoch": 2, "loss": 1.0, "mae": 0.4}
    assert experiment.best_val([{"epoch": 1, "train": {"loss": 1.0}}], 1) is None  # no validation split
    assert experiment.best_val(history, 0) is None  # no finite validation score in any epoch
