"""Shared test helpers: random graphs, a values-and-gradients comparison, the shared data folder, and a run's test
scores counted by hand from its predictions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch


def random_graph(n: int, m: int, *, seed: int, simple: bool = True) -> torch.Tensor:
    """A random ``edge_index [2, m]`` on ``n`` nodes (no repeated edge when ``simple``), unsorted."""
    g = torch.Generator().manual_seed(seed)
    if simple:
        pairs = torch.randperm(n * n, generator=g)[:m]
        return torch.stack([pairs % n, pairs // n])  # j, i
    return torch.randint(0, n, (2, m), generator=g)


def compare_with_grads(ours, reference, inputs: list[torch.Tensor], params: list[torch.Tensor], *, atol=1e-10):
    """Same values and same gradients (w.r.t. inputs and parameters) of a random projection."""
    out_a, out_b = ours(), reference()
    outs_a = out_a if isinstance(out_a, tuple) else (out_a,)
    outs_b = out_b if isinstance(out_b, tuple) else (out_b,)
    for a, b in zip(outs_a, outs_b):
        torch.testing.assert_close(a, b, atol=atol, rtol=1e-8)
    g = torch.Generator().manual_seed(123)
    proj = [torch.randn(a.shape, generator=g, dtype=a.dtype) for a in outs_a]
    wrt = [t for t in inputs + params if t.requires_grad]
    ga = torch.autograd.grad(sum((a * p).sum() for a, p in zip(outs_a, proj)), wrt, allow_unused=True)
    gb = torch.autograd.grad(sum((b * p).sum() for b, p in zip(outs_b, proj)), wrt, allow_unused=True)
    for k, (x, y) in enumerate(zip(ga, gb)):
        if x is None and y is None:
            continue
        x = torch.zeros_like(wrt[k]) if x is None else x
        y = torch.zeros_like(wrt[k]) if y is None else y
        torch.testing.assert_close(x, y, atol=atol, rtol=1e-8, msg=lambda m, k=k: f"gradient {k}: {m}")


# The shared data folder the loaders default to (../shared/data beside the repository, or $GATEDGCN_DATA_DIR).
SHARED = Path(os.environ.get("GATEDGCN_DATA_DIR") or Path(__file__).resolve().parents[2] / "shared" / "data")


def needs_shared(folder: str):
    """Skip a test that reads ``folder`` of the shared data where this checkout has no such folder."""
    return pytest.mark.skipif(not (SHARED / folder).is_dir(), reason=f"no shared data folder at {SHARED / folder}")


def scores_by_hand(run_dir: Path, out: Path) -> dict[str, float]:
    """The test split's accuracy, class-balanced accuracy (the mean recall of the classes present) and F1 of class 1
    (``2 tp / (2 tp + fp + fn)``), counted here from the rows ``gatedgcn predict RUN test`` writes to ``out`` (one per
    labelled graph, node or edge): what the run's ``summary.json`` must report for its test split."""
    from gatedgcn.cli import main

    assert main(["predict", str(run_dir), "test", "--out", str(out), "--quiet"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    pairs = [(row["pred"], row["target"]) for row in rows if "target" in row]
    assert pairs, f"{out}: no labelled row"
    classes = sorted({t for _, t in pairs})
    recall = [sum(p == c for p, t in pairs if t == c) / sum(t == c for _, t in pairs) for c in classes]
    tp = sum(p == 1 and t == 1 for p, t in pairs)
    wrong = sum((p == 1) != (t == 1) for p, t in pairs)  # false positives and false negatives
    return {
        "accuracy": sum(p == t for p, t in pairs) / len(pairs),
        "weighted_accuracy": sum(recall) / len(recall),
        "f1": 2 * tp / (2 * tp + wrong) if tp + wrong else 0.0,
    }


SRC = Path(__file__).resolve().parents[1] / "src"


def subprocess_env(tmp: Path) -> dict[str, str]:
    """The environment of a command run in a child process: this checkout's package, one thread, its own cache."""
    return os.environ | {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(SRC), "GATEDGCN_CACHE_DIR": str(tmp / "cache")}


def torchrun(script: Path, args: list[str], tmp: Path, *, nproc: int = 2, timeout: int = 300):
    """``script args`` in ``nproc`` processes under torchrun on this machine; a hang fails at ``timeout`` seconds."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc), str(script)]
    return subprocess.run([*cmd, *args], env=subprocess_env(tmp), capture_output=True, text=True, timeout=timeout)


def gatedgcn(args: list[str], tmp: Path, *, timeout: int = 300):
    """``python -m gatedgcn args`` in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "gatedgcn", *args],
        env=subprocess_env(tmp),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def files_of(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (its path relative to ``folder``) with its bytes: a run directory to compare."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def randomise_bn(module: torch.nn.Module) -> None:
    """Non-trivial affine and running statistics in every batch norm of ``module``, so that a wrong use of BN shows."""
    with torch.no_grad():
        for bn in (m for m in module.modules() if isinstance(m, torch.nn.BatchNorm1d)):
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.5, 0.5)
            bn.running_mean.uniform_(-0.3, 0.3)
            bn.running_var.uniform_(0.5, 2.0)
