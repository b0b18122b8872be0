"""The command line, end to end on tiny runs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from gatedgcn.cli import main
from gatedgcn.model import LAYERS

TINY = [
    "--epochs",
    "2",
    "--hidden",
    "16",
    "--layers",
    "2",
    "--quiet",
    "--set",
    "data.num_train=16",
    "--set",
    "data.num_val=8",
    "--set",
    "data.num_test=8",
    "--batch-size",
    "8",
]


@pytest.mark.parametrize("model", LAYERS)
def test_train_then_eval_gives_the_same_metrics(tmp_path, capsys, model):
    out = tmp_path / model
    assert main(["train", "--model", model, "--out", str(out), "--json", *TINY]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary == json.loads((out / "summary.json").read_text())
    assert summary["model"] == model and 0.0 <= summary["test"]["accuracy"] <= 1.0
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
