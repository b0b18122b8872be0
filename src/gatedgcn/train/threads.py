"""Torch's thread count per training step: no more threads than the cores the machine's other work leaves free.

A thread that waits for a core another process holds stalls every parallel region of a step at its barrier.  On
this project's 2-core machine beside one busy-looping process, a training step on a batch of 128 molecules took
1.7x as long on torch's default 2 threads as on 1 (``benchmarks/bench.py molecules --contention``,
docs/performance.md).  The trainer asks before each step how many threads it may use (a callable such as
:func:`gatedgcn.ops.free_cores`, which measures the others' use over a quarter of a second) and runs the step on
that many, never more than torch's own setting at the start of the epoch, which is restored after it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch

__all__ = ["thread_count"]


@contextlib.contextmanager
def thread_count(threads: Callable[[], int] | None, device: torch.device) -> Iterator[Callable[[], None]]:
    """Within: a callable that sets torch's thread count to ``threads()`` (between 1 and the count at entry); the count
    at entry is restored on leaving.  ``threads`` None, or a device other than the CPU: the callable does nothing."""
    most = torch.get_num_threads()
    if threads is None or device.type != "cpu":
        yield lambda: None
        return

    def fit() -> None:
        n = max(1, min(most, threads()))
        if n != torch.get_num_threads():
            torch.set_num_threads(n)

    try:
        yield fit
    finally:
        torch.set_num_threads(most)
