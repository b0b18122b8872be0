"""Seeded generation of many graphs, in parallel, with a progress bar.

Graph ``k`` of a split is drawn from its own generator ``default_rng([seed, split_id, k])``, so
the result depends on the seed only, not on the number of worker processes or their order.

Workers send their graphs back as numpy arrays, pickled into the result pipe: a torch tensor would
travel as a shared-memory file descriptor, one per tensor, held open by the parent for as long as the
tensor lives, and a full-size benchmark set (14,000 graphs, three tensors each) runs out of descriptors
under the usual limit of 1,024.  A worker that dies (killed, out of memory) breaks the pool: the parent
raises :class:`DataError` at once instead of waiting for results that will never come.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from gatedgcn.errors import DataError
from gatedgcn.graph import Graph

__all__ = ["generate", "SPLIT_IDS"]

SPLIT_IDS = {"train": 0, "val": 1, "test": 2}
_TENSORS = tuple(f.name for f in dataclasses.fields(Graph) if f.name not in ("name", "extra"))  # extra: PyG interop


def _one(make: Callable[[int, np.random.Generator], Graph], seed: int, split_id: int, k: int) -> Graph:
    return make(k, np.random.default_rng([seed, split_id, k]))


def _as_arrays(g: Graph) -> dict[str, Any]:
    """A graph as plain numpy arrays (and its name): what a worker sends back."""
    return {"name": g.name} | {f: None if (t := getattr(g, f)) is None else t.numpy() for f in _TENSORS}


def _from_arrays(fields: dict[str, Any]) -> Graph:
    tensors: dict[str, Any] = {f: None if (a := fields[f]) is None else torch.from_numpy(a) for f in _TENSORS}
    return Graph(name=fields["name"], **tensors)


class _Task:
    """``(split_id, k) -> graph k as arrays``: the picklable job of one worker."""

    def __init__(self, make: Callable[[int, np.random.Generator], Graph], seed: int) -> None:
        self.make, self.seed = make, seed

    def __call__(self, job: tuple[int, int]) -> dict[str, Any]:
        return _as_arrays(_one(self.make, self.seed, *job))


def _in_workers(task: _Task, jobs: list[tuple[int, int]], workers: int, bar: dict, desc: str) -> list[Graph]:
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        return [_from_arrays(a) for a in tqdm(pool.map(task, jobs, chunksize=64), **bar)]
    except BrokenProcessPool:
        raise DataError(
            f"generating {desc}: a worker process died (killed, or out of memory) before it finished; "
            f"nothing was cached. Run again, or with data.workers=1 to see the cause"
        ) from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def generate(
    make: Callable[[int, np.random.Generator], Graph],
    counts: dict[str, int],
    *,
    seed: int,
    workers: int = 1,
    desc: str = "graphs",
    progress: bool = True,
) -> dict[str, list[Graph]]:
    """``{split: [make(k, rng_k) for k < counts[split]]}``; ``make`` must be picklable when ``workers > 1``."""
    jobs: Sequence[tuple[str, int]] = [(split, k) for split, count in counts.items() for k in range(count)]
    bar = dict(total=len(jobs), desc=desc, disable=not progress, unit="graph", leave=False)
    if workers <= 1:
        graphs = [_one(make, seed, SPLIT_IDS[split], k) for split, k in tqdm(jobs, **bar)]
    else:
        graphs = _in_workers(_Task(make, seed), [(SPLIT_IDS[split], k) for split, k in jobs], workers, bar, desc)
    out: dict[str, list[Graph]] = {split: [] for split in counts}
    for (split, _), g in zip(jobs, graphs):
        out[split].append(g)
    return out
