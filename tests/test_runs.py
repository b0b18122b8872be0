"""The table of runs and the side-by-side configs, on run directories written by hand."""

from __future__ import annotations

import json

import pytest

from gatedgcn.app.runs import compare_configs, find_runs, format_table, run_row, runs_table
from gatedgcn.cli import main
from gatedgcn.errors import GatedGCNError, RunDirError


def _run(path, *, layer, hidden, val, test=None, metric="accuracy", seconds=(1.5, 2.5)):
    """A run directory: ``val`` is the validation metric per epoch; ``test`` None = still running."""
    path.mkdir(parents=True)
    (path / "config.yaml").write_text(
        f"data:\n  name: mini\nmodel:\n  layer: {layer}\n  layers: 4\n  hidden: {hidden}\ntrain:\n  lr: 0.001\n"
    )
    records = [
        {"epoch": e, "lr": 1e-3, "seconds": s, "train": {"loss": 1.0, metric: 0.5}, "val": {"loss": 1.0, metric: v}}
        for e, (v, s) in enumerate(zip(val, seconds), start=1)
    ]
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    if test is not None:
        summary = {
            "dataset": "mini",
            "model": layer,
            "parameters": 1000 * hidden,
            "epochs": len(val),
            "metric": metric,
            "test": {"loss": 0.3, metric: test},
        }
        (path / "summary.json").write_text(json.dumps(summary))
    return path


@pytest.fixture
def runs(tmp_path):
    root = tmp_path / "runs"
    _run(root / "gated", layer="gated_gcn", hidden=100, val=[0.6, 0.9], test=0.95)
    _run(root / "gcn", layer="gcn", hidden=64, val=[0.7, 0.65], test=0.70)
    _run(root / "nested" / "going", layer="gcn", hidden=32, val=[0.4])  # no summary yet
    _run(root / "reg", layer="gcn", hidden=8, val=[0.9, 0.4, 0.6], test=0.5, metric="mae", seconds=(1, 1, 1))
    return root


def test_rows_by_hand(runs):
    gated = run_row(runs / "gated", runs)
    assert gated == {
        "run": "gated",
        "dataset": "mini",
        "model": "gated_gcn",
        "layers": 4,
        "hidden": 100,
        "parameters": 100_000,
        "metric": "accuracy",
        "best_val": 0.9,
        "best_epoch": 2,
        "test": 0.95,
        "epochs": 2,
        "seconds": 4.0,
    }
    gcn = run_row(runs / "gcn", runs)
    assert (gcn["best_val"], gcn["best_epoch"]) == (0.7, 1)
    reg = run_row(runs / "reg", runs)  # mae: lower is better
    assert (reg["best_val"], reg["best_epoch"], reg["seconds"]) == (0.4, 2, 3.0)
    going = run_row(runs / "nested" / "going", runs)
    assert (
        going["run"] == "nested/going"
        and going["test"] is None
        and going["best_val"] == 0.4
        and going["parameters"] is None
    )


def test_sorting_puts_unknown_cells_last(runs):
    assert [r["run"] for r in runs_table([runs])] == ["gated", "gcn", "nested/going", "reg"]
    assert [r["run"] for r in runs_table([runs], sort="test", reverse=True)] == ["gated", "gcn", "reg", "nested/going"]
    assert [r["run"] for r in runs_table([runs], sort="hidden")] == ["reg", "nested/going", "gcn", "gated"]
    with pytest.raises(GatedGCNError, match="unknown column"):
        runs_table([runs], sort="colour")


def test_table_text_is_aligned(runs):
    lines = format_table(runs_table([runs]), ("run", "hidden", "test")).splitlines()
    assert lines[0].split() == ["run", "hidden", "test"]
    assert lines[2].split() == ["gated", "100", "0.9500"]
    assert lines[4].split() == ["nested/going", "32", "-"]
    assert len({len(line) for line in lines[:4]}) == 1  # right-aligned numbers: same width


def test_compare_shows_only_the_keys_that_differ(runs):
    text = compare_configs(find_runs([runs / "gated", runs / "gcn"]))
    body = [line.split() for line in text.splitlines()[2:]]
    assert body == [["*", "model.layer", "gated_gcn", "gcn"], ["*", "model.hidden", "100", "64"]]
    everything = compare_configs(find_runs([runs / "gated", runs / "gcn"]), all_keys=True)
    assert "train.lr" in everything and "* model.hidden" in everything
    with pytest.raises(GatedGCNError, match="at least two runs"):
        compare_configs([runs / "gated"])


def test_runs_cli(runs, capsys):
    assert main(["runs", str(runs), "--sort", "test", "--reverse"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[2].startswith("gated ") and out[-1].startswith("nested/going")
    assert main(["runs", str(runs), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 4
    assert main(["runs", str(runs / "gated"), str(runs / "reg"), "--compare"]) == 0
    assert "* model.hidden" in capsys.readouterr().out
    assert main(["runs", str(runs / "absent")]) == 1
    assert "no such folder of runs" in capsys.readouterr().err


def test_a_broken_summary_is_named(runs):
    (runs / "gcn" / "summary.json").write_text("{not json")
    with pytest.raises(RunDirError, match=r"gcn/summary.json: not valid JSON"):
        run_row(runs / "gcn")
