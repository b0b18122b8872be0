"""Fixtures of the hostile-input corpus: a sandbox per case and one finished tiny run to copy."""

from __future__ import annotations

import shutil

import pytest
from harness import Sandbox

from gatedgcn.cli import main

from tiny_run import FAULT_TINY


@pytest.fixture(scope="session", autouse=True)
def _imported():
    """The CLI's lazy imports done before the cases: a case's 30 s are for its own work, not for importing torch's."""
    import gatedgcn.app.experiment
    import gatedgcn.app.explain
    import gatedgcn.app.plot
    import gatedgcn.app.predict
    import gatedgcn.app.predict_files
    import gatedgcn.app.runs
    import gatedgcn.data.download  # noqa: F401


@pytest.fixture(scope="session")
def matplotlib_dir(tmp_path_factory):
    """matplotlib's own font cache, kept out of the sandbox's $HOME."""
    return tmp_path_factory.mktemp("matplotlib")


@pytest.fixture
def box(tmp_path, monkeypatch, matplotlib_dir, one_thread) -> Sandbox:
    sandbox = Sandbox(tmp_path)
    for folder in ("data", "cache", "home", "cwd", "outside"):
        (tmp_path / folder).mkdir()
    (tmp_path / "outside" / "sentinel").write_text("nobody writes here")
    monkeypatch.setenv("GATEDGCN_CACHE_DIR", str(sandbox.cache))
    monkeypatch.setenv("GATEDGCN_DATA_DIR", str(sandbox.data))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MPLCONFIGDIR", str(matplotlib_dir))
    monkeypatch.chdir(tmp_path / "cwd")
    return sandbox


@pytest.fixture(scope="session")
def finished(tmp_path_factory):
    """A finished FAULT_TINY run of the mini set (a checkpoint after every step); copy it, never change it."""
    root = tmp_path_factory.mktemp("hostile-template")
    env = pytest.MonkeyPatch()
    env.setenv("GATEDGCN_CACHE_DIR", str(root / "cache"))
    try:
        assert main(["train", "--out", str(root / "run"), *FAULT_TINY]) == 0  # set-up: not bounded as the cases are
    finally:
        env.undo()
    return root / "run"


@pytest.fixture
def trained(box, finished) -> Sandbox:
    """The sandbox with a copy of the finished run in its run folder."""
    shutil.copytree(finished, box.run)
    return box
