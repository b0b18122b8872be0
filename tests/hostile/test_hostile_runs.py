"""Hostile run directories: weights (safetensors), checkpoints, summaries, metrics and folders that are not what
they claim; each refused naming the file, or (a damaged checkpoint) skipped with a warning and the run resumed."""

from __future__ import annotations

import io
import json
import os
import struct
from pathlib import Path

import pytest
import torch
from harness import SMALL, refused, run_cli, snapshot
from safetensors.torch import load_file, save

from gatedgcn.train.checkpoint import CheckpointWarning, encode, read_checkpoint
from gatedgcn.train.lock import RunLock

WEIGHTS = "model.safetensors"


def _tensors(run: Path) -> dict[str, torch.Tensor]:
    return load_file(run / WEIGHTS)


def _header(payload: dict | bytes, data: bytes = b"") -> bytes:
    text = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return struct.pack("<Q", len(text)) + text + data


def _reshaped(run: Path) -> bytes:
    t = _tensors(run)
    key = next(k for k, v in t.items() if v.dim() == 2)
    return save(t | {key: torch.zeros(t[key].shape[0] + 1, t[key].shape[1])})


def _without_one(run: Path) -> bytes:
    t = _tensors(run)
    return save(dict(list(t.items())[1:]))


def _with_extra(run: Path) -> bytes:
    return save(_tensors(run) | {"extra.weight": torch.zeros(2)})


# case -> (file under the run -> new content (bytes or a function of the run folder), strings the error names)
WEIGHT_CASES = {
    "weights truncated": ({WEIGHTS: lambda run: (run / WEIGHTS).read_bytes()[:100]}, [WEIGHTS, "cannot read weights"]),
    "weights empty": ({WEIGHTS: b""}, [WEIGHTS, "cannot read weights"]),
    "weights header of 2^60 bytes": ({WEIGHTS: struct.pack("<Q", 1 << 60) + b"{}"}, [WEIGHTS, "cannot read weights"]),
    "weights header not JSON": ({WEIGHTS: _header(b"{not json")}, [WEIGHTS, "cannot read weights"]),
    "weights offsets past the end": (
        {WEIGHTS: _header({"w": {"dtype": "F32", "shape": [1000, 1000], "data_offsets": [0, 4_000_000]}}, b"\0" * 8)},
        [WEIGHTS, "cannot read weights"],
    ),
    "weights of another shape": ({WEIGHTS: _reshaped}, [WEIGHTS, "has shape"]),
    "weights missing a tensor": ({WEIGHTS: _without_one}, [WEIGHTS, "missing"]),
    "weights with an extra tensor": ({WEIGHTS: _with_extra}, [WEIGHTS, "unexpected"]),
    "weights a pickle": ({WEIGHTS: lambda run: _pickle_of_code()}, [WEIGHTS, "cannot read weights"]),
}

RUN_CASES = {
    "summary not JSON": ({"summary.json": b"{not json"}, ["summary.json", "not valid JSON"]),
    "summary not UTF-8": ({"summary.json": b'{"spec": "\xff"}'}, ["summary.json", "UTF-8"]),
    "summary a list": ({"summary.json": b"[1, 2]"}, ["summary.json", "not a JSON object"]),
    "summary nested 100,000 deep": ({"summary.json": b"[" * 100_000 + b"]" * 100_000}, ["summary.json"]),
    "summary spec not a mapping": ({"summary.json": b'{"spec": 7}'}, ["summary.json", "spec"]),
    "summary spec with an unknown field": (
        {"summary.json": lambda run: _summary(run, colour="red")},
        ["'colour'", "ModelSpec"],
    ),
    "summary spec of 10^12 hidden": ({"summary.json": lambda run: _summary(run, hidden=10**12)}, ["hidden"]),
    "summary spec of a wrong type": ({"summary.json": lambda run: _summary(run, layers="four")}, ["spec"]),
    "config.yaml missing": ({"config.yaml": None}, ["not a run directory", "config.yaml"]),
}


def _summary(run: Path, **spec) -> bytes:
    summary = json.loads((run / "summary.json").read_text())
    return json.dumps(summary | {"spec": summary["spec"] | spec}).encode()


def _pickle_of_code() -> bytes:
    buffer = io.BytesIO()
    torch.save({"x": 1}, buffer)
    return buffer.getvalue()


def _damage(run: Path, changes: dict) -> None:
    for name, content in changes.items():
        path = run / name
        if content is None:
            path.unlink()
        else:
            path.write_bytes(content(run) if callable(content) else content)


@pytest.mark.parametrize("case", sorted(WEIGHT_CASES))
def test_eval_and_predict_refuse_damaged_weights_naming_the_file(trained, case):
    changes, names = WEIGHT_CASES[case]
    _damage(trained.run, changes)
    refused(trained, ["eval", trained.run], *names)
    refused(trained, ["predict", trained.run, "test", "--quiet"], *names)


@pytest.mark.parametrize("case", sorted(RUN_CASES))
def test_eval_refuses_a_damaged_run_folder_naming_the_file(trained, case):
    changes, names = RUN_CASES[case]
    _damage(trained.run, changes)
    refused(trained, ["eval", trained.run], *names)


@pytest.mark.parametrize(
    "content, names",
    [
        (b'{"epoch": 1}\n{"epoch": 2, "train": \n', ["metrics.jsonl:2", "not valid JSON"]),
        (b'{"epoch": 1}\n[1, 2]\n', ["metrics.jsonl:2", "epoch record"]),
        (b'{"epoch": "one"}\n', ["metrics.jsonl:1", "epoch record"]),
        (b'{"epoch": 1, "x": "\xff"}\n', ["metrics.jsonl", "UTF-8"]),
    ],
)
def test_plot_and_runs_refuse_a_damaged_metrics_file_naming_the_line(trained, content, names):
    (trained.run / "metrics.jsonl").write_bytes(content)
    refused(trained, ["plot", trained.run, "--out", trained.run / "curves"], *names)
    refused(trained, ["runs", trained.root], *names)


def test_a_device_in_place_of_a_run_file_is_refused_not_read_forever(trained):
    (trained.run / "metrics.jsonl").unlink()
    (trained.run / "metrics.jsonl").symlink_to("/dev/zero")
    refused(trained, ["plot", trained.run, "--out", trained.run / "curves"], "metrics.jsonl", "not a plain file")
    (trained.run / WEIGHTS).unlink()
    (trained.run / WEIGHTS).symlink_to("/dev/zero")
    refused(trained, ["eval", trained.run], WEIGHTS, "not a plain file")


def test_a_second_writer_is_refused_naming_the_holder(trained):
    lock = RunLock.acquire(trained.run)
    try:
        for argv in (
            ["train", "--resume", trained.run, "--quiet"],
            ["train", "--out", trained.run, "--overwrite", *SMALL],
            ["train", "--out", trained.run, *SMALL],
        ):
            refused(trained, argv, "in use by process", os.getpid())
    finally:
        lock.release()


@pytest.mark.parametrize(
    "argv, names",
    [
        (["train", "--out", "RUN", *SMALL], ["already exists", "--resume"]),
        (["train", "--out", "RUN/config.yaml", *SMALL], ["config.yaml", "not a directory"]),
        (["train", "--resume", "RUN/nothing-here", "--quiet"], ["nothing-here/config.yaml"]),
        (["train", "--resume", "RUN", "--hidden", "9"], ["--hidden"]),  # --epochs N trains a finished run on
        (["eval", "RUN/checkpoints"], ["not a run directory"]),
        (["runs", "RUN/no-such-folder"], ["no such folder"]),
        (["explain", "RUN", "--graph", "10000"], ["10000"]),
        (["explain", "RUN", "--layer", "7"], ["layer"]),
        (["predict", "RUN", "nosuchsplit", "--quiet"], ["nosuchsplit"]),
    ],
)
def test_commands_on_a_run_refuse_what_does_not_fit_it(trained, argv, names):
    refused(trained, [str(trained.run) if a == "RUN" else a.replace("RUN", str(trained.run)) for a in argv], *names)


def _checkpoints(run: Path) -> list[Path]:
    return sorted((run / "checkpoints").glob("epoch-*.ckpt"))


def _with_config(path: Path, **train) -> bytes:
    state = read_checkpoint(path)
    config = json.loads(state["config"])
    return encode(state | {"config": json.dumps(config | {"train": config["train"] | train})})


def test_checkpoints_of_another_configuration_are_refused_naming_the_key(trained):
    for path in _checkpoints(trained.run):
        path.write_bytes(_with_config(path, lr=0.5))
    refused(trained, ["train", "--resume", trained.run, "--quiet"], "another configuration", "train.lr")


def test_a_file_where_the_checkpoint_folder_should_be_is_named(trained):
    for path in _checkpoints(trained.run) + [trained.run / "checkpoints" / "best.ckpt"]:
        path.unlink()
    (trained.run / "checkpoints").rmdir()
    (trained.run / "checkpoints").write_text("not a folder")
    refused(trained, ["train", "--resume", trained.run, "--quiet"], "checkpoints")


RECOVERED = {
    "newest flipped bit": lambda p: p.write_bytes(p.read_bytes()[:-1] + bytes([p.read_bytes()[-1] ^ 1])),
    "newest truncated": lambda p: p.write_bytes(p.read_bytes()[:64]),
    "newest empty": lambda p: p.write_bytes(b""),
    "newest a zip file": lambda p: p.write_bytes(b"PK\x03\x04" + b"\0" * 60),
    "newest a link to /dev/zero": lambda p: (p.unlink(), p.symlink_to("/dev/zero")),
    "newest without optimizer": lambda p: p.write_bytes(_restructure(p, "optimizer")),
    "newest without position": lambda p: p.write_bytes(_restructure(p, "position")),
    "a half-written temporary beside it": lambda p: p.with_name(f".{p.name}.1234.tmp").write_bytes(b"half"),
}


def _restructure(path: Path, drop: str) -> bytes:
    state = read_checkpoint(path)
    return encode(state | {"trainer": {k: v for k, v in state["trainer"].items() if k != drop}})


@pytest.mark.parametrize("case", sorted(RECOVERED))
def test_a_damaged_checkpoint_is_skipped_with_a_warning_and_the_run_resumes(trained, case):
    newest = _checkpoints(trained.run)[-1]
    RECOVERED[case](newest)
    outside = snapshot(trained.root, skip=(trained.run, trained.cache))
    with pytest.warns(CheckpointWarning) if "temporary" not in case else _nothing():
        outcome = run_cli(["train", "--resume", str(trained.run), "--quiet"])
    assert outcome.code == 0 and "Traceback" not in outcome.err, outcome.err
    assert snapshot(trained.root, skip=(trained.run, trained.cache)) == outside


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
