"""Learning curves: the data drawn is the data of metrics.jsonl, the files are real PNG and SVG."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from gatedgcn.app.plot import lr_changes, plot_curves, plot_runs, read_curves
from gatedgcn.cli import main
from gatedgcn.errors import RunDirError

from tiny_run import png_size, train_tiny

# five epochs by hand; the lr halves after epoch 3 and again after epoch 4
LRS = [1e-3, 1e-3, 1e-3, 5e-4, 2.5e-4]


def _fake_run(path, metric="accuracy", offset=0.0):
    path.mkdir(parents=True)
    (path / "config.yaml").write_text("model:\n  layer: gcn\n")
    records = [
        {
            "epoch": e,
            "lr": lr,
            "seconds": 1.0,
            "train": {"loss": 2.0 / e + offset, metric: 0.1 * e},
            "val": {"loss": 2.5 / e + offset, metric: 0.09 * e},
        }
        for e, lr in zip(range(1, 6), LRS)
    ]
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _assert_svg(path):
    root = ET.parse(path).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert len(list(root.iter("{http://www.w3.org/2000/svg}path"))) > 20  # curves, ticks, lines


def test_lr_changes_by_hand(tmp_path):
    curves = read_curves(_fake_run(tmp_path / "a"))
    assert lr_changes(curves) == [(4, 5e-4), (5, 2.5e-4)]
    assert curves.metric == "accuracy" and curves.epochs == [1, 2, 3, 4, 5]


def test_figure_draws_every_run_split_and_lr_change(tmp_path):
    a = read_curves(_fake_run(tmp_path / "a"))
    b = read_curves(_fake_run(tmp_path / "b", offset=1.0))
    fig = plot_curves([a, b])
    loss_ax, metric_ax = fig.axes
    drawn = {line.get_label(): list(line.get_ydata()) for line in loss_ax.get_lines()}
    assert drawn["a train"] == pytest.approx([2.0 / e for e in range(1, 6)])
    assert drawn["b val"] == pytest.approx([2.5 / e + 1.0 for e in range(1, 6)])
    metric_lines = {line.get_label(): list(line.get_ydata()) for line in metric_ax.get_lines()}
    assert metric_lines["a val"] == pytest.approx([0.09 * e for e in range(1, 6)])
    # the lr changes: vertical lines half an epoch before epochs 4 and 5, for each run, on both panels
    vertical = sorted(line.get_xdata()[0] for line in loss_ax.get_lines() if len(set(line.get_xdata())) == 1)
    assert vertical == [3.5, 3.5, 4.5, 4.5]


def test_plot_writes_valid_png_and_svg_of_several_runs(tmp_path):
    runs = [_fake_run(tmp_path / "a"), _fake_run(tmp_path / "b", offset=0.5)]
    png, svg = plot_runs(runs, tmp_path / "out" / "curves")
    assert png.name == "curves.png" and svg.name == "curves.svg"
    width, height = png_size(png)
    assert width > 600 and height > 300 and png.stat().st_size > 20_000
    _assert_svg(svg)
    assert svg.stat().st_size > 20_000


def test_plot_cli_on_a_trained_run(tmp_path, capsys):
    run = train_tiny(tmp_path / "run")
    assert main(["plot", str(run)]) == 0
    assert capsys.readouterr().out.split() == [str(run / "curves.png"), str(run / "curves.svg")]
    assert png_size(run / "curves.png")[0] > 600
    _assert_svg(run / "curves.svg")


def test_a_run_without_epochs_is_refused(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "config.yaml").write_text("{}\n")
    with pytest.raises(RunDirError, match="no epochs in metrics.jsonl"):
        plot_runs([tmp_path / "empty"], tmp_path / "x")
    assert main(["plot", str(tmp_path / "nothing")]) == 1
    assert "not a run directory" in capsys.readouterr().err
