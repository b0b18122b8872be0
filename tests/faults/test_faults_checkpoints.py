"""Faults of checkpoints and weights: corrupt, truncated, restructured, foreign or code-running checkpoints are
skipped or refused naming what differs; weights of another architecture are refused naming the mismatch."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from toy_task import toy_trainer

from gatedgcn.app.config import Config
from gatedgcn.app.experiment import Experiment
from gatedgcn.cli import main
from gatedgcn.errors import CheckpointError, RunDirError
from gatedgcn.train.checkpoint import MAGIC, Checkpointer, CheckpointWarning, decode, encode, read_checkpoint
from gatedgcn.train.run import RunDir
from gatedgcn.train.trainer import Trainer

from helpers import files_of
from tiny_run import FAULT_TINY as TINY


def _checkpointer(tmp_path: Path, trainer: Trainer, steps: int, **config) -> Checkpointer:
    save = Checkpointer(tmp_path / "ckpt", config={"train": {"lr": 0.1}} | config, keep=3, every_minutes=0)
    for step in range(1, steps + 1):
        trainer.position.step = step
        save(trainer, "step")
    return save


def test_the_newest_valid_checkpoint_is_used_and_corrupt_ones_are_skipped(tmp_path):
    save = _checkpointer(tmp_path, toy_trainer(), steps=5)
    kept = [p.name for _, p in save.positions()]
    assert kept == [
        "epoch-0001-step-000003.ckpt",
        "epoch-0001-step-000004.ckpt",
        "epoch-0001-step-000005.ckpt",
    ]  # the last K = 3
    newest, middle = save.positions()[2][1], save.positions()[1][1]
    data = bytearray(newest.read_bytes())
    data[len(data) // 2] ^= 0x01  # one flipped bit
    newest.write_bytes(bytes(data))
    middle.write_bytes(middle.read_bytes()[:100])  # truncated
    (save.folder / ".epoch-0001-step-000006.ckpt.x.tmp").write_bytes(b"half")  # a write killed before its rename
    with pytest.warns(CheckpointWarning) as caught:
        state = save.latest()
    assert state["position"]["step"] == 3
    assert len(caught) == 2 and all("corrupt or truncated" in str(w.message) for w in caught)
    assert not list(save.folder.glob(".*.tmp"))


def test_a_checkpoint_of_another_config_or_kind_is_refused_with_what_differs(tmp_path):
    trainer = toy_trainer()
    _checkpointer(tmp_path, trainer, steps=1)
    other = Checkpointer(tmp_path / "ckpt", config={"train": {"lr": 0.2}}, every_minutes=0)
    with pytest.raises(CheckpointError, match=r"train\.lr: 0\.1 in the checkpoint, 0\.2 now"):
        other.latest()
    with pytest.raises(CheckpointError, match="not a gatedgcn checkpoint"):
        decode(b"PK\x03\x04 a zip file", "x.ckpt")
    with pytest.raises(CheckpointError, match="holds no trainer state"):
        decode(encode({"weights": torch.zeros(2)}), "x.ckpt")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A TINY run to its end, with a checkpoint after every step (read only: copy it)."""
    run = tmp_path_factory.mktemp("finished") / "run"
    threads, env = torch.get_num_threads(), pytest.MonkeyPatch()
    torch.set_num_threads(1)
    env.setenv("GATEDGCN_CACHE_DIR", str(run.parent / "cache"))
    try:
        assert main(["train", "--out", str(run), *TINY]) == 0
    finally:
        torch.set_num_threads(threads)
        env.undo()
    return run


def _restructured(state: dict, damage: str) -> dict:
    trainer = dict(state["trainer"])
    if damage == "no optimizer":
        del trainer["optimizer"]
    elif damage == "wrong shape":
        model = dict(trainer["model"])
        key = next(k for k, v in model.items() if v.dim() == 2)
        model[key] = torch.zeros(model[key].shape[0] + 1, model[key].shape[1])
        trainer["model"] = model
    elif damage == "unknown field":
        trainer["colour"] = "red"
    elif damage == "position of a string":
        trainer["position"] = "epoch 3"
    elif damage == "moments of another shape":
        optimizer = dict(trainer["optimizer"])
        optimizer["state"] = {0: {"exp_avg": torch.zeros(99), "step": torch.tensor(1.0)}}
        trainer["optimizer"] = optimizer
    elif damage == "spec field unknown":
        return state | {"spec": json.dumps(json.loads(state["spec"]) | {"colour": "red"})}
    elif damage == "config not json":
        return state | {"config": "{not json"}
    return state | {"trainer": trainer}


@pytest.mark.parametrize(
    "damage",
    [
        "no optimizer",
        "wrong shape",
        "unknown field",
        "position of a string",
        "moments of another shape",
        "spec field unknown",
        "config not json",
    ],
)
def test_a_checkpoint_with_a_valid_checksum_but_the_wrong_structure_is_skipped_as_a_corrupt_one(
    tmp_path, finished_run, damage
):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    before = files_of(run)
    (
        run / "summary.json"
    ).unlink()  # not finished: the resume goes back to the checkpoints (a finished one trains nothing)
    newest = Checkpointer(run / "checkpoints", config={}).positions()[-1][1]
    newest.write_bytes(encode(_restructured(read_checkpoint(newest), damage)))
    with pytest.warns(CheckpointWarning, match=f"skipping checkpoint: .*{newest.name}"):
        assert main(["train", "--resume", str(run), "--quiet"]) == 0
    after = files_of(run)
    for name in ("model.safetensors", "summary.json"):
        assert after[name] == before[name]


class Payload:
    """An object whose unpickling would run code: ``torch.load(weights_only=True)`` must refuse it."""

    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path):
    buffer = io.BytesIO()
    torch.save({"config": "{}", "trainer": Payload()}, buffer)
    payload = buffer.getvalue()
    data = (
        MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload
    )  # a valid hash: only the unpickler stands in the way
    with pytest.raises(CheckpointError, match="cannot be loaded safely"):
        decode(data, "evil.ckpt")


def test_weights_of_another_architecture_are_refused_naming_the_mismatch(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--out", str(run), *TINY]) == 0
    config = Config.load(run / "config.yaml")
    wider = Experiment.build(config.with_overrides(["model.hidden=16"])).model
    with pytest.raises(RunDirError, match=r"has shape \[8.*\], the model expects \[16"):
        RunDir(run).load_weights(wider)
    deeper = Experiment.build(config.with_overrides(["model.layers=2"])).model
    # layer 0 of the deeper model is not its last: it has the edge BN the run's one layer leaves out
    with pytest.raises(RunDirError, match=r"missing \['layers\.(0\.bn_e|1)\."):
        RunDir(run).load_weights(deeper)
    config = run / "config.yaml"
    config.write_text(config.read_text().replace("hidden: 8", "hidden: 12"))
    assert main(["eval", str(run)]) == 1
    assert "hidden: 8 in the stored model spec, 12 from the config" in capsys.readouterr().err
    summary = json.loads((run / "summary.json").read_text())
    (run / "summary.json").write_text(
        json.dumps({k: v for k, v in summary.items() if k != "spec"})
    )  # a run from before the spec was stored
    assert main(["eval", str(run)]) == 1
    assert "the model expects [12" in capsys.readouterr().err
    (run / "model.safetensors").write_bytes(b"\x00" * 64)
    assert main(["eval", str(run)]) == 1
    assert "cannot read weights" in capsys.readouterr().err
