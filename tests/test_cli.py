"""The command line, end to end on tiny runs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from gatedgcn.cli import main
from gatedgcn.model import LAYERS

from helpers import needs_shared
from tiny_run import SMALL, argv

TINY = argv(epochs=2, hidden=16, layers=2, quiet=True, sets=SMALL, batch_size=8)


@pytest.mark.parametrize("model", LAYERS)
def test_train_then_eval_gives_the_same_metrics(tmp_path, capsys, model):
    out = tmp_path / model
    assert main(["train", "--model", model, "--out", str(out), "--json", *TINY]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary == json.loads((out / "summary.json").read_text())
    assert summary["model"] == model
    assert main(["predict", str(out), "test", "--out", str(tmp_path / "pred.jsonl"), "--quiet"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "pred.jsonl").read_text().splitlines()]
    right = sum(row["pred"] == row["target"] for row in rows)
    assert len(rows) == 8 and summary["test"]["accuracy"] == pytest.approx(right / len(rows))  # from the predictions
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(l)["epoch"] for l in lines] == [1, 2]
    assert main(["eval", str(out), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    for split in ("train", "val", "test"):
        assert again[split]["accuracy"] == summary[split]["accuracy"]
        assert again[split]["loss"] == pytest.approx(summary[split]["loss"], rel=1e-6)


def test_same_seed_same_weights(tmp_path):
    from safetensors.torch import load_file

    for name in ("a", "b"):
        assert main(["train", "--out", str(tmp_path / name), "--seed", "5", *TINY]) == 0
    a, b = load_file(tmp_path / "a" / "model.safetensors"), load_file(tmp_path / "b" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_config_file_repeats_a_run(tmp_path):
    assert main(["train", "--out", str(tmp_path / "a"), *TINY]) == 0
    assert (
        main(["train", "--config", str(tmp_path / "a" / "config.yaml"), "--out", str(tmp_path / "b"), "--quiet"]) == 0
    )
    assert (tmp_path / "a" / "summary.json").read_text().split('"seconds"')[0] == (
        tmp_path / "b" / "summary.json"
    ).read_text().split('"seconds"')[0]
    assert (
        json.loads((tmp_path / "a" / "summary.json").read_text())["test"]
        == json.loads((tmp_path / "b" / "summary.json").read_text())["test"]
    )


def test_existing_run_directory_is_kept_without_overwrite(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    assert main(["train", "--out", str(out), *TINY]) == 1
    assert "already exists" in capsys.readouterr().err
    assert (out / "precious.txt").read_text() == "keep me"


@pytest.mark.parametrize(
    "args, words",
    [
        (["train", "--set", "model.hiden=3"], "unknown key"),
        (["train", "--hidden", "0"], "model.hidden must be >= 4"),
        (["train", "--dataset", "nope"], "unknown dataset 'nope'"),
        (["train", "--lr", "-1"], "train.lr must be > 0"),
    ],
)
def test_bad_flags_exit_2_with_a_message(tmp_path, capsys, args, words):
    assert main([*args, "--out", str(tmp_path / "r"), "--quiet"]) == 2
    assert words in capsys.readouterr().err


def test_eval_of_a_missing_run(tmp_path, capsys):
    assert main(["eval", str(tmp_path)]) == 1
    assert "not a run directory" in capsys.readouterr().err


def test_console_script_help():
    out = subprocess.run(
        [sys.executable, "-m", "gatedgcn", "train", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "--model" in out and "gated_gcn" in out and "--config" in out


@pytest.mark.parametrize(
    "typo, words",
    [("--epochz", "--epochz: did you mean --epochs?"), ("--hiden", "--hiden: did you mean --hidden?")],
)
def test_an_unknown_flag_names_the_nearest_one(capsys, typo, words):
    with pytest.raises(SystemExit) as exit:
        main(["train", typo, "3"])
    assert exit.value.code == 2 and words in capsys.readouterr().err


def test_version_is_the_installed_package_s(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exit:
        main(["--version"])
    assert exit.value.code == 0 and capsys.readouterr().out.strip() == f"gatedgcn {version('gatedgcn')}"


def test_one_epoch_is_one_epoch_and_a_finished_run_says_it_is_complete(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), *TINY, "--epochs", "1"]) == 0
    assert " 1 epoch in " in capsys.readouterr().out
    before = (out / "summary.json").read_bytes()
    assert main(["train", "--resume", str(out), "--quiet"]) == 0
    assert f"{out} is complete (1 epoch)" in capsys.readouterr().err
    assert (out / "summary.json").read_bytes() == before  # nothing trained: the same summary


@needs_shared("planetoid")
def test_fewer_fanouts_than_layers_warn(tmp_path):
    args = ["train", "--dataset", "cora", "--model", "gcn", "--layers", "3", "--hidden", "8", "--epochs", "1"]
    with pytest.warns(UserWarning, match="train.fanout '5,3' has 2 value\\(s\\) for 3 layers"):
        assert main([*args, "--fanout", "5,3", "--batch-size", "256", "--quiet", "--out", str(tmp_path / "r")]) == 0


def test_in_a_log_one_line_per_epoch_and_no_progress_bars(tmp_path, capsys):
    loud = [a for a in TINY if a != "--quiet"]
    assert main(["train", "--out", str(tmp_path / "run"), *loud]) == 0
    out, err = capsys.readouterr()
    assert [line.split("  ")[0] for line in out.splitlines() if line.startswith("epoch")] == ["epoch 1/2", "epoch 2/2"]
    assert "batch/s" not in err and "epochs:" not in err and "\r" not in err  # capsys is no terminal: no bars


def test_resume_with_more_epochs_trains_a_finished_run_on_as_one_run_of_that_length(tmp_path, capsys):
    from safetensors.torch import load_file

    short, whole = tmp_path / "short", tmp_path / "whole"
    assert main(["train", "--out", str(short), *TINY]) == 0  # 2 epochs
    assert main(["train", "--out", str(whole), *TINY, "--epochs", "3"]) == 0
    assert main(["train", "--resume", str(short), "--epochs", "3", "--quiet"]) == 0
    a, b = load_file(short / "model.safetensors"), load_file(whole / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert [json.loads(line)["epoch"] for line in (short / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3]
    assert "epochs: 3" in (short / "config.yaml").read_text()
    capsys.readouterr()
    assert main(["train", "--resume", str(short), "--epochs", "2", "--quiet"]) == 0
    assert "is complete (3 epochs); --epochs 2 is no more than that" in capsys.readouterr().err
