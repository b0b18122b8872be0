"""Kill a training run (SIGKILL during a checkpoint write and at a random moment; SIGTERM in a random step),
resume it each time, and compare with a run never interrupted: the same weights and summary.json, bit for bit."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gatedgcn.cli import main
from gatedgcn.train.trainer import Trainer

from helpers import subprocess_env
from tiny_run import argv

TINY = argv(
    quiet=True,
    hidden=8,
    layers=2,
    epochs=5,
    batch_size=8,
    lr=0.01,
    dropout=0.1,
    sets={"data.num_train": 32, "data.num_val": 16, "data.num_test": 16},
    checkpoint_minutes=0,
)

# Runs the CLI, but the K-th checkpoint write dies (SIGKILL) after half of its bytes reached the temporary file.
DIE_IN_WRITE = """
import os, signal, sys
import gatedgcn.train.checkpoint as checkpoint
K, real, count = int(sys.argv[1]), checkpoint.atomic_write, [0]
def write(path, data):
    count[0] += 1
    if count[0] == K:
        def die(fd):
            os.ftruncate(fd, len(data) // 2)
            os.kill(os.getpid(), signal.SIGKILL)
        os.fsync = die
    real(path, data)
checkpoint.atomic_write = write
from gatedgcn.cli import main
sys.exit(main(sys.argv[2:]))
"""


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "gatedgcn", *args]


def _kill_during_training(cmd: list[str], run: Path, sig: int, rng: random.Random, env: dict[str, str]) -> int:
    """Start ``cmd``; once it writes a new checkpoint, wait a random moment and send ``sig``."""
    folder = run / "checkpoints"
    before = {p.name for p in folder.glob("*.ckpt")} if folder.is_dir() else set()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        if folder.is_dir() and {p.name for p in folder.glob("*.ckpt")} - before:
            time.sleep(rng.uniform(0.0, 0.4))
            proc.send_signal(sig)
            break
        time.sleep(0.01)
    proc.communicate(timeout=300)
    return proc.returncode


def _here(*args: str) -> int:
    """``gatedgcn *args`` in this process, on one thread like the subprocesses (the float sums depend on it)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return main(list(args))
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The run never interrupted."""
    out = tmp_path_factory.mktemp("resume") / "reference"
    assert _here("train", "--out", str(out), *TINY) == 0
    return out


def _resume_here(run: Path) -> int:
    return _here("train", "--resume", str(run), "--quiet")


def _assert_same(run: Path, reference: Path, why: object) -> None:
    for name in ("model.safetensors", "summary.json"):
        assert (run / name).read_bytes() == (reference / name).read_bytes(), (why, name)
    assert not list(run.rglob(".*.tmp")), why
    epochs = [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert epochs == list(range(1, 6)), why  # one metrics line per epoch, none repeated by the resumes


def test_sigkill_during_a_checkpoint_write_and_at_a_random_moment(tmp_path, reference):
    env = subprocess_env(tmp_path)
    seed = random.SystemRandom().randrange(10**6)  # not the seeded global generator
    rng = random.Random(seed)
    run = tmp_path / "killed"
    k = rng.randrange(3, 25)  # 4 steps per epoch: a checkpoint after each step and each epoch
    died = subprocess.run(
        [sys.executable, "-c", DIE_IN_WRITE, str(k), "train", "--out", str(run), *TINY],
        env=env,
        capture_output=True,
        text=True,
    )
    assert died.returncode == -signal.SIGKILL, (seed, died.stderr)
    assert len(list((run / "checkpoints").glob(".*.tmp"))) == 1, seed  # the write that died left its temporary file
    assert not (run / "summary.json").exists()

    code = _kill_during_training(_cli("train", "--resume", str(run), "--quiet"), run, signal.SIGKILL, rng, env)
    assert code in (0, -signal.SIGKILL), (seed, code)
    assert _resume_here(run) == 0
    _assert_same(run, reference, (seed, k, code))


def test_sigterm_mid_step_writes_a_checkpoint_and_says_how_to_resume(tmp_path, reference, monkeypatch, capsys):
    seed = random.SystemRandom().randrange(10**6)  # not the seeded global generator
    k = random.Random(seed).randrange(1, 20)
    real, steps = Trainer._step, []

    def step(self, batch):
        steps.append(1)
        if len(steps) == k:
            os.kill(os.getpid(), signal.SIGTERM)  # arrives in the middle of the step
        return real(self, batch)

    monkeypatch.setattr(Trainer, "_step", step)
    run = tmp_path / "stopped"
    assert _here("train", "--out", str(run), *TINY) == 128 + signal.SIGTERM
    assert f"gatedgcn train --resume {run}" in capsys.readouterr().err
    assert len(steps) == k  # the step under way was finished, no other begun
    assert _resume_here(run) == 0
    _assert_same(run, reference, (seed, k))


RECIPE = {  # the tuned recipe's options, each stopped by SIGTERM in a random step and resumed
    "adamw-cosine-clip-ffn-rwse": [
        *("--set", "train.optimizer=adamw", "--set", "train.weight_decay=0.01", "--set", "train.schedule=cosine"),
        *("--set", "train.warmup_epochs=2", "--set", "train.clip_grad_norm=0.5", "--set", "model.ffn=true"),
        *("--set", "model.activation=gelu", "--set", "data.pe=random_walk", "--set", "data.pe_dim=4"),
        *("--set", "model.pe_encoder=bn_linear", "--set", "model.pe_combine=concat", "--set", "model.pe_hidden=2"),
    ],
    "gps": ["--model", "gps", "--set", "model.heads=2", "--set", "model.heads_join=concat"],
    "additive-gat": [
        *("--model", "graph_attention", "--set", "model.score=additive", "--set", "model.heads=2"),
        *("--set", "model.attention_dropout=0.2", "--set", "model.heads_join=mean"),
    ],
}


@pytest.mark.parametrize("name", list(RECIPE))
def test_each_recipe_option_resumes_bit_for_bit_after_sigterm(tmp_path, monkeypatch, name):
    options = [*TINY, *RECIPE[name]]
    reference = tmp_path / "reference"
    assert _here("train", "--out", str(reference), *options) == 0
    seed = random.SystemRandom().randrange(10**6)
    k = random.Random(seed).randrange(1, 20)
    real, steps = Trainer._step, []

    def step(self, batch):
        steps.append(1)
        if len(steps) == k:
            os.kill(os.getpid(), signal.SIGTERM)
        return real(self, batch)

    monkeypatch.setattr(Trainer, "_step", step)
    run = tmp_path / "stopped"
    assert _here("train", "--out", str(run), *options) == 128 + signal.SIGTERM
    monkeypatch.setattr(Trainer, "_step", real)
    assert _resume_here(run) == 0
    _assert_same(run, reference, (name, seed, k))
