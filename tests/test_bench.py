"""The benchmark script runs (no timing is checked: the numbers go to docs/performance.md, not to assertions)."""

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def bench(monkeypatch):
    pytest.importorskip("torch_geometric")
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location("bench", ROOT / "benchmarks" / "bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    threads = torch.get_num_threads()
    yield module
    torch.set_num_threads(threads)  # the benchmark sets its own


def test_molecules_section_runs_after_checking_the_pyg_network(bench, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["bench.py", "molecules", "--reps", "1", "--no-save"])
    bench.main()
    out = capsys.readouterr().out
    assert "molecules, 1 thread(s):" in out  # timed after the float64 comparison with the PyG network passed
    for impl in ("trainer", "fast", "reference", "pyg"):
        assert f" {impl} " in out
