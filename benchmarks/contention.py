"""A busy neighbour: one process that keeps a core busy while a benchmark runs beside it (``bench.py --contention``).

On a shared 2-core machine this is the normal case (a browser, another job): a thread of ours that the
scheduler puts off the core holds up every parallel region at its barrier.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

BUSY_LOOP = "while True: pass"


def load_average() -> list[float]:
    """``/proc/loadavg``'s 1, 5 and 15 minute load averages."""
    return [round(float(v), 2) for v in Path("/proc/loadavg").read_text().split()[:3]]


@contextlib.contextmanager
def busy_neighbour(enabled: bool = True, settle_s: float = 2.0) -> Iterator[dict]:
    """Within: one busy-looping Python process runs (when ``enabled``); yields a record of the conditions
    (``contended``, the load average before, and after the block once it ends)."""
    record = {"contended": enabled, "load_average_before": load_average()}
    proc = None
    if enabled:
        proc = subprocess.Popen([sys.executable, "-c", BUSY_LOOP], stdin=subprocess.DEVNULL)
        record["neighbour_pid"] = proc.pid
        time.sleep(settle_s)  # let it reach the core
    try:
        yield record
    finally:
        record["load_average_after"] = load_average()
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def condition(record: dict) -> str:
    """How the machine was loaded by the benchmark itself, for table headings."""
    return "contended (one busy-looping process beside)" if record.get("contended") else "no added load"
