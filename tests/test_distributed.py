"""Data-parallel training: the sharded order, and a failing or killed rank that must stop the whole job (2 processes
against 1 in float64, with synchronised batch norm: tests/test_distributed_sync.py)."""

from __future__ import annotations

import json
import subprocess
import textwrap

from gatedgcn.cli import main
from gatedgcn.train.distributed import ShardSampler, World
from gatedgcn.train.lock import RunLock

from helpers import torchrun
from tiny_run import DDP_SETS, DDP_TINY, FAULT_TINY, argv

TINY = argv(**DDP_TINY, epochs=1, sets=DDP_SETS | {"model.batch_norm": "false"})


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
    args = ["train", "--out", str(tmp_path / "run"), *TINY, *argv(epochs=3, sets={"model.batch_norm": "true"})]
    done = torchrun(driver, args, tmp_path, timeout=600)  # a hang would time out
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["skipped"] for r in records] == [1]  # rank 0's step 1 was skipped too (else the weights would differ)
    assert done.returncode != 0
    assert "rank 1 fails on purpose" in done.stderr
    left = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(driver) not in left  # no process is left behind
    assert not (tmp_path / "run" / "summary.json").exists()


KILLED_RANK = """
import os, signal, sys
from gatedgcn.train.trainer import Trainer
real_step = Trainer._step
def step(self, batch, calls=[]):
    calls.append(1)
    if os.environ["RANK"] == "1" and len(calls) == 2:
        os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer would
    return real_step(self, batch)
Trainer._step = step
from gatedgcn.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_rank_killed_during_ddp_stops_the_job_leaves_no_process_and_no_lock(tmp_path):
    driver, run = tmp_path / "driver_killed.py", tmp_path / "run"
    driver.write_text(KILLED_RANK)
    flags = argv(epochs=1, sets={"data.num_train": 32, "train.dtype": "float64"})
    done = torchrun(driver, ["train", "--out", str(run), *FAULT_TINY, *flags], tmp_path, timeout=600)  # a hang: timeout
    assert done.returncode != 0 and "Signal 9 (SIGKILL)" in done.stderr, done.stderr[-2000:]
    left = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(driver) not in left  # no rank is left behind
    assert not (run / "summary.json").exists()
    RunLock.check_free(run)  # rank 0's lock went with it
    assert main(["train", "--out", str(run), "--overwrite", *FAULT_TINY]) == 0
