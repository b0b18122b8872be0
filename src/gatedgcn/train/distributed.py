"""Data-parallel training with ``torch.distributed``: torchrun starts N processes, each trains on its
shard of every epoch's shuffled order, DDP averages the gradients, and only rank 0 writes.

    torchrun --nproc-per-node 2 -m gatedgcn train ...          (one machine; gloo on CPU, nccl on CUDA)
    gatedgcn train --nproc 2 ...                               (the same, launched for you)
    torchrun --nnodes 2 --node-rank K --rdzv-endpoint HOST:29500 --nproc-per-node 2 -m gatedgcn train ...

Sharding: epoch ``e``'s order is one permutation drawn from ``seed + e``; rank ``r`` of ``W`` takes
positions ``r, r + W, r + 2W, ...`` (padded by wrapping around to a multiple of ``W``), so step ``t``
of all ranks together sees the same graphs as step ``t`` of one process with a ``W`` times larger
batch.  Metrics of a split are computed once on the union of the ranks' outputs (sums and counts).

Checkpoints (rank 0 writes them) are taken at the end of each epoch only: there every rank's running sums
are empty, so the one state of rank 0 plus the RNG states of all ranks resume every rank exactly.
"""

from __future__ import annotations

import contextlib
import math
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import Tensor
from torch.utils.data import Sampler

from gatedgcn.errors import CheckpointError
from gatedgcn.train.trainer import Trainer, rng_state

__all__ = [
    "World",
    "world_from_env",
    "process_group",
    "ShardSampler",
    "gather_tally",
    "launch",
    "EpochSave",
    "rank_rng",
]


@dataclass(frozen=True)
class World:
    """This process's place among ``size`` processes."""

    rank: int = 0
    size: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def world_from_env() -> World | None:
    """The world torchrun describes in ``RANK`` / ``WORLD_SIZE``, or ``None`` outside torchrun."""
    if "WORLD_SIZE" not in os.environ or "RANK" not in os.environ:
        return None
    return World(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]))


@contextlib.contextmanager
def process_group(device: str, timeout_s: float = 600.0) -> Iterator[None]:
    """Join the process group (``nccl`` on CUDA, else ``gloo``) and leave it on success, error or Ctrl-C.

    On CUDA each process takes the GPU of its ``LOCAL_RANK`` (``cuda`` then means that one)."""
    if device.startswith("cuda"):
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if device.startswith("cuda") else "gloo", timeout=timedelta(seconds=timeout_s))
    try:
        yield
    finally:
        dist.destroy_process_group()


class ShardSampler(Sampler[int]):
    """Rank ``rank``'s positions of epoch ``e``'s permutation (drawn from ``seed + e``), every ``size``-th one."""

    def __init__(self, n: int, world: World, *, seed: int, shuffle: bool = True) -> None:
        self.n, self.world, self.seed, self.shuffle = n, world, seed, shuffle
        self.epoch = 1

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return math.ceil(self.n / self.world.size)

    def __iter__(self) -> Iterator[int]:
        order = (
            torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed + self.epoch))
            if self.shuffle
            else torch.arange(self.n)
        )
        padded = order.repeat(math.ceil(len(self) * self.world.size / max(self.n, 1)))[
            : len(self) * self.world.size
        ]  # [W * len]
        return iter(padded[self.world.rank :: self.world.size].tolist())


def gather_tally(
    loss_sum: float, count: int, outs: list[Tensor], ys: list[Tensor]
) -> tuple[float, int, list[Tensor], list[Tensor]]:
    """The sums, counts and outputs of every rank (in rank order), so that a split's metric is computed once."""
    mine = (loss_sum, count, [torch.cat(outs)] if outs else [], [torch.cat(ys)] if ys else [])
    every: list = [None] * dist.get_world_size()
    dist.all_gather_object(every, mine)
    return (
        sum(p[0] for p in every),
        sum(p[1] for p in every),
        [t for p in every for t in p[2]],
        [t for p in every for t in p[3]],
    )


class _WithRanksRNG:
    """What a checkpointer reads of a trainer (``position``, ``state_dict()``), the RNG states of all ranks in it."""

    def __init__(self, trainer: Trainer, states: list) -> None:
        self.trainer, self.states, self.position = trainer, states, trainer.position

    def state_dict(self) -> dict:
        state = self.trainer.state_dict()
        state["position"]["rng"] = {"ranks": self.states}
        return state


class EpochSave:
    """The trainer's ``save`` hook on every rank of a job: at the end of an epoch the ranks' RNG states are
    gathered and rank 0 calls ``save`` (its checkpointer) with them; mid-epoch saves are not taken (each
    rank's running sums of the epoch would be needed, and ranks cannot agree on a clock without a collective per step)."""

    def __init__(self, save: Callable[[Trainer | _WithRanksRNG, str], None] | None) -> None:
        self.save = save

    def __call__(self, trainer: Trainer, reason: str) -> None:
        if reason != "epoch":
            return
        states: list = [None] * dist.get_world_size()
        dist.all_gather_object(states, rng_state())
        if self.save is not None:
            self.save(_WithRanksRNG(trainer, states), reason)


def rank_rng(state: dict, world: World) -> dict:
    """A loaded trainer state with ``world.rank``'s own RNG state (of a checkpoint written by :class:`EpochSave`)."""
    rng = state["position"].get("rng")
    if rng is None or "ranks" not in rng:
        if world.size > 1:
            raise CheckpointError(
                f"the checkpoint was written by one process (its epoch's sums and RNG state are one process's); "
                f"resume it without --nproc, not with {world.size} processes"
            )
        return state
    if len(rng["ranks"]) != world.size:
        raise CheckpointError(
            f"the checkpoint holds the RNG states of {len(rng['ranks'])} processes; resume it with --nproc {len(rng['ranks'])}, not {world.size}"
        )
    return state | {"position": state["position"] | {"rng": rng["ranks"][world.rank]}}


def launch(nproc: int, argv: Sequence[str]) -> int:
    """Run ``gatedgcn <argv>`` under torchrun with ``nproc`` processes on this machine; its exit code."""
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={nproc}",
        "-m",
        "gatedgcn",
        *argv,
    ]
    return subprocess.call(cmd)
