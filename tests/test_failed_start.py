"""A run that fails before its first epoch leaves nothing to resume: the run directory it made is removed, one that
was there before is left (empty); a run that fails later keeps its directory for ``--resume``."""

from __future__ import annotations

import pytest

from gatedgcn.app import launch
from gatedgcn.cli import main


def _unlabelled_edge_list(folder):
    """An edge list whose node table has two labels: too few for three splits (a DataError while building)."""
    folder.mkdir()
    (folder / "edges.csv").write_text("a,b\nb,c\nc,a\n")
    (folder / "nodes.csv").write_text("id,label\na,x\nb,y\nc,\n")
    return folder / "edges.csv"


def test_a_failed_start_removes_the_directory_it_made(tmp_path, capsys):
    out = tmp_path / "runs" / "new"
    args = ["train", "--dataset", "edgelist", "--data-path", str(_unlabelled_edge_list(tmp_path / "d"))]
    assert main(args + ["--out", str(out), "--quiet"]) == 1
    assert "needs at least 3 labelled nodes" in capsys.readouterr().err
    assert not out.exists() and (tmp_path / "runs").is_dir()  # a parent it made stays: only the run folder goes
    # the same command again is not told to --resume or --overwrite
    assert main(args + ["--out", str(out), "--quiet"]) == 1
    assert "--resume" not in capsys.readouterr().err


def test_a_failed_start_leaves_a_directory_that_was_there(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    args = ["train", "--dataset", "edgelist", "--data-path", str(_unlabelled_edge_list(tmp_path / "d"))]
    assert main(args + ["--out", str(out), "--quiet"]) == 1
    assert out.is_dir() and list(out.iterdir()) == []
    # with --overwrite of a finished run: the folder stays (emptied), it offers no --resume
    done = tmp_path / "done"
    assert main(["train", "--out", str(done), "--epochs", "1", "--hidden", "8", "--quiet"]) == 0
    assert main(args + ["--out", str(done), "--overwrite", "--quiet"]) == 1
    assert done.is_dir() and [p.name for p in done.iterdir()] == []


def test_a_failure_after_an_epoch_keeps_the_run_for_resume(tmp_path, monkeypatch):
    def fail(*_args, **_kwargs):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(launch, "_summary", fail)
    out = tmp_path / "run"
    with pytest.raises(RuntimeError, match="disk is full"):
        main(["train", "--out", str(out), "--epochs", "1", "--hidden", "8", "--quiet"])
    assert (out / "config.yaml").is_file() and (out / "metrics.jsonl").read_text().strip()
    monkeypatch.undo()
    assert main(["train", "--resume", str(out), "--quiet"]) == 0
