"""Fixtures of the hostile-input corpus: a sandbox per case and one finished tiny run to copy."""

from __future__ import annotations

import shutil

import pytest
import torch

from harness import Sandbox, run_cli

TINY = [
    "--quiet",
    "--hidden",
    "8",
    "--layers",
    "1",
    "--epochs",
    "2",
    "--batch-size",
    "8",
    "--set",
    "data.num_train=16",
    "--set",
    "data.num_val=8",
    "--set",
    "data.num_test=8",
    "--checkpoint-minutes",
    "0",
]


@pytest.fixture
def box(tmp_path, monkeypatch) -> Sandbox:
    sandbox = Sandbox(tmp_path)
    for folder in ("data", "cache", "home", "cwd", "outside"):
        (tmp_path / folder).mkdir()
    (tmp_path / "outside" / "sentinel").write_text("nobody writes here")
    monkeypatch.setenv("GATEDGCN_CACHE_DIR", str(sandbox.cache))
    monkeypatch.setenv("GATEDGCN_DATA_DIR", str(sandbox.data))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path / "cwd")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield sandbox
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def finished(tmp_path_factory):
    """A finished TINY run of the mini set (a checkpoint after every step); copy it, never change it."""
    root = tmp_path_factory.mktemp("hostile-template")
    env = pytest.MonkeyPatch()
    env.setenv("GATEDGCN_CACHE_DIR", str(root / "cache"))
    try:
        outcome = run_cli(["train", "--out", str(root / "run"), *TINY])
    finally:
        env.undo()
    assert outcome.code == 0, outcome.err
    return root / "run"


@pytest.fixture
def trained(box, finished) -> Sandbox:
    """The sandbox with a copy of the finished run in its run folder."""
    shutil.copytree(finished, box.run)
    return box
