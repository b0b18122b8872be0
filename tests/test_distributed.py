"""Data-parallel training: the sharded order, and a failing rank that must stop the whole job (2 processes
against 1 in float64, with synchronised batch norm: tests/test_distributed_sync.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from gatedgcn.train.distributed import ShardSampler, World

TINY = [
    "--quiet",
    "--hidden",
    "8",
    "--layers",
    "2",
    "--epochs",
    "1",
    "--batch-size",
    "8",
    "--lr",
    "0.01",
    "--set",
    "data.num_train=32",
    "--set",
    "data.num_val=8",
    "--set",
    "data.num_test=8",
    "--set",
    "model.batch_norm=false",
    "--set",
    "train.dtype=float64",
]


def _env(tmp_path: Path) -> dict[str, str]:
    src = str(Path(__file__).resolve().parents[1] / "src")
    return os.environ | {"OMP_NUM_THREADS": "1", "PYTHONPATH": src, "GATEDGCN_CACHE_DIR": str(tmp_path / "cache")}


def test_the_shards_of_an_epoch_make_the_global_batches_of_one_process():
    n, W, b = 20, 4, 2  # 20 items, 4 ranks, 2 per rank and step: global batch 8
    one = list(ShardSampler(n, World(0, 1), seed=7))
    shards = [list(ShardSampler(n, World(r, W), seed=7)) for r in range(W)]
    assert sorted(one) == list(range(n)) and all(len(s) == 5 for s in shards)
    assert sorted(i for s in shards for i in s) == list(range(n))  # disjoint, together every item once
    for t in range(2):  # step t of all ranks together = step t of one process with a 4 x larger batch
        assert sorted(i for s in shards for i in s[t * b : (t + 1) * b]) == sorted(one[t * W * b : (t + 1) * W * b])
    later = ShardSampler(n, World(0, 1), seed=7)
    later.set_epoch(2)
    assert list(later) != one and sorted(later) == list(range(n))  # reseeded per epoch
    uneven = [list(ShardSampler(5, World(r, 2), seed=1)) for r in range(2)]
    assert len(uneven[0]) == len(uneven[1]) == 3 and set(uneven[0] + uneven[1]) == set(range(5))  # padded by wrapping


DRIVER = """
import os, sys
from gatedgcn.train.objective import Objective
from gatedgcn.train.trainer import Trainer
rank1 = os.environ["RANK"] == "1"
real_loss, real_step = Objective.loss, Trainer._step
def loss(self, out, y, calls=[]):
    calls.append(1)
    value = real_loss(self, out, y)
    return value * float("nan") if rank1 and len(calls) == 1 else value  # rank 1 alone: a NaN loss in step 1
def step(self, batch, calls=[]):
    calls.append(1)
    if rank1 and len(calls) == 6:  # epoch 2, step 2
        raise RuntimeError("rank 1 fails on purpose")
    return real_step(self, batch)
Objective.loss, Trainer._step = loss, step
from gatedgcn.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_nan_on_one_rank_is_skipped_by_all_and_a_failing_rank_stops_the_job(tmp_path):
    driver = tmp_path / "driver_fails.py"
    driver.write_text(textwrap.dedent(DRIVER))
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        str(driver),
        "train",
        "--out",
        str(tmp_path / "run"),
        *TINY,
        "--epochs",
        "3",
        "--set",
        "model.batch_norm=true",
    ]
    done = subprocess.run(cmd, env=_env(tmp_path), capture_output=True, text=True, timeout=600)  # a hang would time out
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["skipped"] for r in records] == [1]  # rank 0's step 1 was skipped too (else the weights would differ)
    assert done.returncode != 0
    assert "rank 1 fails on purpose" in done.stderr
    left = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(driver) not in left  # no process is left behind
    assert not (tmp_path / "run" / "summary.json").exists()
