"""Seeded generation of many graphs, in parallel, with a progress bar.

Graph ``k`` of a split is drawn from its own generator ``default_rng([seed, split_id, k])``, so
the result depends on the seed only, not on the number of worker processes or their order.
"""

from __future__ import annotations

import multiprocessing
from functools import partial
from typing import Callable, Sequence

import numpy as np
from tqdm.auto import tqdm

from gatedgcn.graph import Graph

__all__ = ["generate", "SPLIT_IDS"]

SPLIT_IDS = {"train": 0, "val": 1, "test": 2}


def _one(make: Callable[[int, np.random.Generator], Graph], seed: int, split_id: int, k: int) -> Graph:
    return make(k, np.random.default_rng([seed, split_id, k]))


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
    run = lambda pair: _one(make, seed, SPLIT_IDS[pair[0]], pair[1])  # noqa: E731
    bar = dict(total=len(jobs), desc=desc, disable=not progress, unit="graph", leave=False)
    if workers <= 1:
        graphs = [run(pair) for pair in tqdm(jobs, **bar)]
    else:
        task = partial(_one, make, seed)
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            args = [(SPLIT_IDS[split], k) for split, k in jobs]
            graphs = list(tqdm(pool.imap(_Star(task), args, chunksize=64), **bar))
    out: dict[str, list[Graph]] = {split: [] for split in counts}
    for (split, _), g in zip(jobs, graphs):
        out[split].append(g)
    return out


class _Star:
    """``f(*args)`` as a picklable one-argument callable for ``Pool.imap``."""

    def __init__(self, f: Callable) -> None:
        self.f = f

    def __call__(self, args: tuple) -> Graph:
        return self.f(*args)
