"""What a run directory records about itself: the best validation epoch and the model's spec in summary.json;
a run is loaded (eval, predict, resume) from its stored spec after the dataset's encoding changed, falls back
to the derived spec when it has none (runs written before), and a dataset that does not fit it is refused."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest
import torch

import gatedgcn
from gatedgcn.app import experiment, launch
from gatedgcn.app.config import Config
from gatedgcn.errors import RunDirError

from tiny_run import TINY, train_tiny

EXTRA = ("train.epochs=4", "train.lr=0.01")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("meta") / "run", *EXTRA)


def test_summary_names_the_best_validation_epoch_of_the_metrics_file(run_dir):
    summary = json.loads((run_dir / "summary.json").read_text())
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    metric = summary["metric"]
    top = max(r["val"][metric] for r in records)
    first = next(r for r in records if r["val"][metric] == top)  # ties: the earliest epoch
    assert summary["best_val"] == {"epoch": first["epoch"], **first["val"]}
    assert 1 <= summary["best_val"]["epoch"] <= len(records)


def test_best_val_reads_the_record_of_the_best_epoch():
    history = [
        {"epoch": k, "train": {"loss": 1.0}, "val": {"loss": 3.0 - k, "mae": v}}
        for k, v in ((1, 0.9), (2, 0.4), (3, 0.6))
    ]
    assert launch.best_val(history, 2) == {"epoch": 2, "loss": 1.0, "mae": 0.4}
    assert launch.best_val([{"epoch": 1, "train": {"loss": 1.0}}], 1) is None  # no validation split
    assert launch.best_val(history, 0) is None  # no finite validation score in any epoch


def _encoding_changed(monkeypatch, graphs=lambda g: g, **fields):
    """From now on the dataset comes with ``fields`` replaced and each graph passed through ``graphs``."""
    real = experiment.load_dataset

    def changed(name, **options):
        data = real(name, **options)
        splits = {split: [graphs(g) for g in gs] for split, gs in data.splits.items()}
        return dataclasses.replace(data, splits=splits, **fields)

    monkeypatch.setattr(experiment, "load_dataset", changed)


def test_summary_holds_the_spec_the_model_was_built_with(run_dir):
    spec = json.loads((run_dir / "summary.json").read_text())["spec"]
    # mini: graph classification of 8 classes, node degrees as categories below data.max_nodes (20), one float per edge
    assert {
        k: spec[k]
        for k in ("layer", "layers", "hidden", "level", "out_dim", "in_dim", "node_vocab", "edge_in_dim", "edge_vocab")
    } == {
        "layer": "gated_gcn",
        "layers": 2,
        "hidden": 16,
        "level": "graph",
        "out_dim": 8,
        "in_dim": 0,
        "node_vocab": 20,
        "edge_in_dim": 1,
        "edge_vocab": 0,
    }


def test_a_grown_vocabulary_still_loads_the_run_from_its_stored_spec(run_dir, monkeypatch):
    summary = json.loads((run_dir / "summary.json").read_text())
    _encoding_changed(
        monkeypatch, node_vocab=25
    )  # the encoding now reserves 5 more categories; the graphs are the same
    assert launch.evaluate(run_dir) == {split: summary[split] for split in ("train", "val", "test")}
    run = gatedgcn.load(run_dir)
    assert run.model.spec.node_vocab == 20 and run.model.embed_h.num_embeddings == 20
    rows = run.predict(run.dataset.splits["test"])
    assert sum(r["pred"] == r["target"] for r in rows) / len(rows) == pytest.approx(summary["test"]["accuracy"])


def test_a_run_without_a_stored_spec_is_rebuilt_from_the_dataset(run_dir, tmp_path, monkeypatch):
    old = shutil.copytree(run_dir, tmp_path / "old")
    summary = json.loads((old / "summary.json").read_text())
    del summary["spec"]  # as written before the spec was stored
    (old / "summary.json").write_text(json.dumps(summary))
    assert launch.evaluate(old, splits=("test",))["test"] == summary["test"]
    _encoding_changed(
        monkeypatch, node_vocab=25
    )  # without the spec the model is derived, and its weights no longer fit
    with pytest.raises(RunDirError, match=r"embed_h.weight has shape \[20, 16\], the model expects \[25, 16\]"):
        launch.evaluate(old)


@pytest.mark.parametrize(
    "fields, graphs, words",
    [
        (
            {"edge_in_dim": 2},
            lambda g: g.replace(edge_attr=torch.ones(g.num_edges, 2)),
            r"edge_in_dim: 1 in the stored model spec, 2 for dataset mini",
        ),
        (
            {"node_vocab": 40},
            lambda g: g.replace(x=g.x + 15),
            r"node_vocab: the model has 20 categories, dataset mini has category 3\d",
        ),
        (
            {"task": gatedgcn.data.Task(level="graph", kind="classification", num_outputs=9, metric="accuracy")},
            lambda g: g,
            r"out_dim: 8 in the stored model spec, 9 for dataset mini",
        ),
    ],
)
def test_a_dataset_that_does_not_fit_the_stored_spec_is_refused_by_field(run_dir, monkeypatch, fields, graphs, words):
    _encoding_changed(monkeypatch, graphs, **fields)
    with pytest.raises(RunDirError, match=rf"{run_dir}: dataset and config do not fit the stored model spec: {words}"):
        launch.evaluate(run_dir)
    # predicting reads no dataset (summary.json keeps its encoding): the run loads, and only asking for the
    # dataset's own graphs builds the changed dataset, which is refused the same way
    loaded = gatedgcn.load(run_dir)
    assert loaded.encoded.splits == {}
    with pytest.raises(RunDirError, match=words):
        _ = loaded.dataset


def test_a_config_edited_after_the_run_is_refused_naming_the_field(run_dir, tmp_path):
    edited = shutil.copytree(run_dir, tmp_path / "edited")
    config = edited / "config.yaml"
    config.write_text(config.read_text().replace("readout: sum", "readout: max"))
    with pytest.raises(
        RunDirError,
        match=r"edited: dataset and config do not fit the stored model spec: readout: sum in the stored model spec, max from the config",
    ):
        launch.evaluate(edited)


def test_the_config_chooses_the_layer_code_of_a_stored_run(run_dir, tmp_path):
    """impl (fused kernels or plain equations) chooses code, not weights: an edited impl loads, and scores the same."""
    edited = shutil.copytree(run_dir, tmp_path / "impl")
    config = edited / "config.yaml"
    assert "impl: fast" in config.read_text()
    config.write_text(config.read_text().replace("impl: fast", "impl: reference"))
    model = gatedgcn.load(edited).model
    impls = {layer.impl for layer in model.modules() if hasattr(layer, "impl")}
    assert impls == {"reference"}
    fast, reference = launch.evaluate(run_dir), launch.evaluate(edited)
    assert fast.keys() == reference.keys()
    for split in fast:
        for name, value in fast[split].items():
            assert reference[split][name] == pytest.approx(value, rel=1e-5, abs=1e-6)


def test_a_stored_spec_with_an_unknown_field_is_refused(run_dir, tmp_path):
    bad = shutil.copytree(run_dir, tmp_path / "bad")
    summary = json.loads((bad / "summary.json").read_text())
    summary["spec"]["colour"] = "blue"
    (bad / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(RunDirError, match=r"bad: the stored model spec has the field 'colour'"):
        launch.evaluate(bad)


def test_resume_after_an_encoding_change_rebuilds_the_model_from_the_checkpoints_spec(run_dir, tmp_path, monkeypatch):
    cut = shutil.copytree(run_dir, tmp_path / "cut")
    for done in (
        "summary.json",
        "model.safetensors",
        "checkpoints/epoch-0005-step-000000.ckpt",
        "checkpoints/best.ckpt",
    ):
        (cut / done).unlink(
            missing_ok=True
        )  # as if killed during the last epoch: its checkpoint is that of epoch 4's start
    assert sorted(p.name for p in (cut / "checkpoints").iterdir()) == ["epoch-0004-step-000000.ckpt"]
    _encoding_changed(monkeypatch, node_vocab=25)
    config = Config().with_overrides(TINY + list(EXTRA))
    summary = launch.train(config, cut, resume=True, progress=False)
    assert summary == json.loads((run_dir / "summary.json").read_text())
    assert summary["spec"]["node_vocab"] == 20
