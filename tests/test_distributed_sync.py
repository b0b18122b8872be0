"""Synchronised batch norm and resuming a data-parallel run: 2 processes on 127.0.0.1 (gloo), float64.

- SyncBatchNorm alone: ranks with 3 and 0, or 2 and 3 rows give the values, gradients and running statistics
  of BatchNorm on all the rows; 1 and 0 rows (fewer than two in all) use the running statistics.
- `--nproc 2 --sync-bn` with batch norm on gives the weights and running statistics of one process with
  the same global batch (after each epoch, to 1e-10).
- A 2-process run stopped after epoch 1 and resumed with `--nproc 2 --resume` ends bit for bit as the
  uninterrupted 2-process run (weights, summary.json, metrics).  Every rank resumes with its own RNG
  state (rank_rng); no dropout here (1 process and 2 cannot draw the same masks), so that part is tested alone.
"""

from __future__ import annotations

import json
import socket
import textwrap
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file

from gatedgcn.cli import main
from gatedgcn.errors import CheckpointError
from gatedgcn.train.checkpoint import read_checkpoint
from gatedgcn.train.distributed import World, rank_rng

from helpers import gatedgcn, torchrun
from tiny_run import DDP_SETS, DDP_TINY, argv

TINY = argv(**DDP_TINY, epochs=2, sets=DDP_SETS | {"model.impl": "reference"})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CASES = ([3, 0], [2, 3], [1, 0])  # rows of rank 0 and rank 1


def _reference(rows: list[int]) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    """A double BatchNorm with non-trivial parameters, the rows of all ranks and the projection of the loss."""
    from gatedgcn.nn.norm import BatchNorm

    bn = BatchNorm(3).double()
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([1.5, -0.5, 2.0])), bn.bias.copy_(torch.tensor([0.1, 0.2, 0.3]))
        bn.running_var.fill_(2.0)
    t = torch.randn(sum(rows), 3, generator=torch.Generator().manual_seed(sum(rows)), dtype=torch.float64)
    return bn, t, torch.linspace(-1, 1, 3 * sum(rows), dtype=torch.float64).view(-1, 3)


def _sync_bn_rank(rank: int, init: str, out: str) -> None:
    """One rank of the SyncBatchNorm check, for every case: its share of the rows, the statistics of all."""
    import torch.distributed as dist

    from gatedgcn.nn.norm import synchronised

    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    try:
        for k, rows in enumerate(CASES):
            bn, t, proj = _reference(rows)
            bn = synchronised(torch.nn.Sequential(bn))[0]
            mine = slice(sum(rows[:rank]), sum(rows[: rank + 1]))
            x = t[mine].clone().requires_grad_()
            y = bn(x)
            (y * proj[mine]).sum().backward()
            dist.all_reduce(bn.weight.grad)  # as DDP does (summed here: one loss over the rows of all ranks)
            torch.save(
                {
                    "y": y.detach(),
                    "grad": x.grad,
                    "weight_grad": bn.weight.grad,
                    "mean": bn.running_mean,
                    "var": bn.running_var,
                },
                f"{out}.{k}.{rank}",
            )
    finally:
        dist.destroy_process_group()


def test_sync_batch_norm_of_uneven_ranks_is_batch_norm_of_all_their_rows(tmp_path):
    mp.start_processes(
        _sync_bn_rank,
        args=(f"file://{tmp_path / 'rdv'}", str(tmp_path / "out")),
        nprocs=2,
        join=True,
        start_method="spawn",
    )  # fork would inherit the OpenMP pool of earlier tests and hang
    for k, rows in enumerate(CASES):
        got = [torch.load(tmp_path / f"out.{k}.{r}", weights_only=True) for r in range(2)]
        bn, t, proj = _reference(rows)
        t.requires_grad_()
        y = bn.train()(t)
        (y * proj).sum().backward()
        torch.testing.assert_close(torch.cat([g["y"] for g in got]), y.detach(), rtol=0, atol=1e-12)
        torch.testing.assert_close(torch.cat([g["grad"] for g in got]), t.grad, rtol=0, atol=1e-12)
        for g in got:
            torch.testing.assert_close(g["weight_grad"], bn.weight.grad, rtol=0, atol=1e-12)
            torch.testing.assert_close(g["mean"], bn.running_mean, rtol=0, atol=1e-12)
            torch.testing.assert_close(g["var"], bn.running_var, rtol=0, atol=1e-12)
        assert bool((bn.running_var == 2.0).all()) == (sum(rows) < 2)  # 1 row in all: running statistics used and kept


def test_each_rank_resumes_with_its_own_rng_state_and_a_changed_world_is_refused():
    state = {
        "model": {},
        "position": {"epoch": 2, "rng": {"ranks": [{"torch": torch.tensor([0])}, {"torch": torch.tensor([1])}]}},
    }
    assert int(rank_rng(state, World(1, 2))["position"]["rng"]["torch"]) == 1
    assert int(rank_rng(state, World(0, 2))["position"]["rng"]["torch"]) == 0
    assert state["position"]["rng"]["ranks"][1]["torch"] == 1  # the loaded state is not changed
    with pytest.raises(CheckpointError, match="--nproc 2, not 1"):
        rank_rng(state, World(0, 1))
    one = {"model": {}, "position": {"epoch": 2, "rng": {"torch": torch.tensor([0])}}}
    assert rank_rng(one, World(0, 1)) is one
    with pytest.raises(CheckpointError, match="without --nproc, not with 2 processes"):
        rank_rng(one, World(1, 2))


# rank 0 ends the job right after the checkpoint of epoch 1 is written (torchrun then stops rank 1)
STOP_AFTER_EPOCH_1 = """
import os, sys
from gatedgcn.train.checkpoint import Checkpointer
real = Checkpointer.__call__
def call(self, trainer, reason):
    real(self, trainer, reason)
    if reason == "epoch" and trainer.position.epoch == 2:
        os._exit(3)
Checkpointer.__call__ = call
from gatedgcn.cli import main
from gatedgcn.errors import CheckpointError
from gatedgcn.train.distributed import World, rank_rng
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory) -> Path:
    """An uninterrupted 2-epoch run of 2 processes with synchronised batch norm."""
    tmp = tmp_path_factory.mktemp("ddp")
    done = gatedgcn(["train", "--nproc", "2", "--sync-bn", "--out", str(tmp / "run"), *TINY], tmp)
    assert done.returncode == 0, done.stderr[-3000:]
    return tmp / "run"


def test_two_processes_with_sync_batch_norm_train_as_one(two_processes, tmp_path, monkeypatch):
    # one process through the same path (the order of an epoch is the sharded one), plain batch norm of the global batch
    for key, value in {
        "RANK": "0",
        "WORLD_SIZE": "1",
        "LOCAL_RANK": "0",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(_free_port()),
        "GATEDGCN_CACHE_DIR": str(tmp_path / "cache"),
    }.items():
        monkeypatch.setenv(key, value)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(["train", "--out", str(tmp_path / "one"), *TINY]) == 0
    finally:
        torch.set_num_threads(threads)
    after = lambda run, epoch: read_checkpoint(run / "checkpoints" / f"epoch-{epoch + 1:04d}-step-000000.ckpt")[
        "trainer"
    ]["model"]  # noqa: E731
    for epoch in (1, 2):
        one, two = after(tmp_path / "one", epoch), after(two_processes, epoch)
        assert any("running_var" in k for k in one) and one.keys() == two.keys()
        for key in one:
            if one[key].is_floating_point():
                torch.testing.assert_close(two[key], one[key], rtol=0, atol=1e-10, msg=f"epoch {epoch}: {key}")
            else:
                assert torch.equal(two[key], one[key]), key  # num_batches_tracked
    assert not torch.equal(after(tmp_path / "one", 1)["layers.0.bn_h.running_var"], torch.ones(8, dtype=torch.float64))
    first = [json.loads(line) for line in (tmp_path / "one" / "metrics.jsonl").read_text().splitlines()]
    second = [json.loads(line) for line in (two_processes / "metrics.jsonl").read_text().splitlines()]
    assert len(second) == 2  # rank 0 alone writes
    for a, b in zip(first, second):  # the training loss and metric: sums and counts over both ranks
        assert abs(b["train"]["loss"] - a["train"]["loss"]) < 1e-10 and b["train"]["accuracy"] == a["train"]["accuracy"]


def test_a_two_process_run_stopped_after_epoch_1_and_resumed_ends_as_the_uninterrupted_one(two_processes, tmp_path):
    driver = tmp_path / "stop_after_epoch_1.py"
    driver.write_text(textwrap.dedent(STOP_AFTER_EPOCH_1))
    run = tmp_path / "run"
    stopped = torchrun(driver, ["train", "--sync-bn", "--out", str(run), *TINY], tmp_path)
    assert stopped.returncode != 0 and not (run / "summary.json").exists()
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 1
    resumed = gatedgcn(["train", "--nproc", "2", "--resume", str(run), "--quiet"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a, b = load_file(two_processes / "model.safetensors"), load_file(run / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # bit for bit
    assert (run / "summary.json").read_text() == (two_processes / "summary.json").read_text()
    without_time = lambda path: [
        {k: v for k, v in json.loads(line).items() if k != "seconds"} for line in path.read_text().splitlines()
    ]  # noqa: E731
    assert without_time(run / "metrics.jsonl") == without_time(two_processes / "metrics.jsonl")


def test_a_gated_layer_with_synchronised_batch_norm_runs_its_plain_code(monkeypatch):
    """The fused kernels compute plain batch norm of their own rows: with a synchronised one the layer must not take them."""
    import gatedgcn.ops.gated as gated
    from gatedgcn import ops
    from gatedgcn.nn import GatedGCNLayer
    from gatedgcn.nn.norm import synchronised

    plain = []
    reference = gated.reference
    monkeypatch.setattr(gated, "reference", lambda *a, **k: plain.append(1) or reference(*a, **k))
    layer = GatedGCNLayer(4).double()
    x, e, ei = (
        torch.randn(6, 4, dtype=torch.float64),
        torch.randn(10, 4, dtype=torch.float64),
        torch.randint(0, 6, (2, 10)),
    )
    with ops.fused_kernels():
        layer(x, ei, e)
        assert plain == []  # plain batch norm: fused
        calls = []
        sync = synchronised(layer)
        for bn in (sync.bn_h, sync.bn_e):
            monkeypatch.setattr(
                bn,
                "forward",
                lambda t, bn=bn: (
                    calls.append(bn)
                    or torch.nn.functional.batch_norm(
                        t, bn.running_mean, bn.running_var, bn.weight, bn.bias, True, 0.1, bn.eps
                    )
                ),
            )
        sync(x, ei, e)
    assert plain == [1] and len(calls) == 2  # the synchronised norms were called by the plain code
