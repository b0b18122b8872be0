"""How many cores the compiled sweeps of one call may use: the CPUs this process may run on, less the threads
of other processes that are running on them right now.

On a shared machine (a laptop with a browser open, a node shared with another job, a CPU given out to several
sessions) a sweep that asks for more threads than there are free cores loses: the thread the OS puts off its
core holds up the others at the end of the sweep, and a waiting OpenMP thread spins on the core its sibling
needs.  So each call of the gated op looks once, before its sweeps, at the number of threads the kernel is
running (``/proc/loadavg``, its fourth field) less this process's own running threads
(``/proc/self/task/*/stat``), and runs its sweeps on no more threads than that leaves cores.  Where these
files do not exist (not Linux) every CPU counts as free.  Nothing is read at import, no setting is read.
"""

from __future__ import annotations

import os

__all__ = ["free_cores"]

_LOADAVG = "/proc/loadavg"
_TASKS = "/proc/self/task"


def _read(path: str) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, 512)
    finally:
        os.close(fd)


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _running_here() -> int:
    """This process's threads in state R (running or runnable)."""
    running = 0
    for tid in os.listdir(_TASKS):
        try:
            stat = _read(f"{_TASKS}/{tid}/stat")
        except OSError:  # the thread ended meanwhile
            continue
        running += stat[stat.rindex(b")") + 2 : stat.rindex(b")") + 3] == b"R"  # "tid (name) S ...": any name
    return running


def free_cores() -> int:
    """The CPUs of this process less the other processes' running threads, at least 1."""
    cpus = _cpus()
    try:
        running = int(_read(_LOADAVG).split()[3].split(b"/")[0])  # "0.5 0.4 0.3 3/120 4567"
        others = running - _running_here()
    except (OSError, ValueError, IndexError):
        return cpus
    return max(1, cpus - max(0, others))
