"""How many cores the compiled sweeps of one call may use: the CPUs this process may run on, less the cores that
other processes keep busy.

On a shared machine (a laptop with a browser open, a node shared with another job, a CPU given out to several
sessions) a sweep that asks for more threads than there are free cores loses: the thread the OS puts off its
core holds up the others at the end of the sweep, and a waiting OpenMP thread spins on the core its sibling
needs.  So each call of the gated op asks :func:`free_cores` once, before its sweeps, and runs on no more threads
than that.

How busy the others are is measured over time, not at one instant: the CPU time of the whole machine
(``/proc/stat``) less this process's own (``/proc/self/stat``), over the time since the reading of at least
:data:`WINDOW_S` before, gives the cores the others used on average (a neighbour busy-looping: 1.0).  A process
that used at least :data:`BUSY_FRACTION` of a core counts as holding one.  One instant (the count of running
threads in ``/proc/loadavg`` less this process's) was the first design: beside the two training processes of
another session on this project's 2-core machine (2026-12-02), it saw both cores free in 6 of 12 calls, and the
calls it sent to 2 threads made a backward 1.7× slower than on one.  That instant is still what the first call
of a process reads, before there is an interval to measure.  Where these files do not exist (not Linux) every
CPU counts as free.  Nothing is read at import, no setting is read; the last reading is kept in :data:`_STATE`.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass

__all__ = ["BUSY_FRACTION", "WINDOW_S", "free_cores"]

_LOADAVG = "/proc/loadavg"
_TASKS = "/proc/self/task"
_STAT = "/proc/stat"
_SELF_STAT = "/proc/self/stat"
# The shortest interval a measurement spans: /proc/stat counts in ticks of 10 ms, so 0.25 s on 2 CPUs reads the
# others' use to about 0.1 of a core.
WINDOW_S = 0.25
# The share of a core from which another process's use counts as a core it holds.
BUSY_FRACTION = 0.3


@dataclass
class _Reading:
    wall: float  # s
    machine: float  # CPU seconds of all CPUs, busy
    own: float  # CPU seconds of this process


@dataclass
class _State:
    since: _Reading | None = None  # the start of the interval being measured
    others: float | None = None  # cores the other processes used over the last interval measured


_STATE = _State()


def _read(path: str) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, 4096)
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


def _others_now() -> int:
    """Other processes' threads running at this instant (``/proc/loadavg``'s fourth field less ours)."""
    running = int(_read(_LOADAVG).split()[3].split(b"/")[0])  # "0.5 0.4 0.3 3/120 4567"
    return max(0, running - _running_here())


def _reading() -> _Reading:
    tick = os.sysconf("SC_CLK_TCK")
    cpu = [int(v) for v in _read(_STAT).split(b"\n", 1)[0].split()[1:]]  # user nice system idle iowait irq ...
    own = _read(_SELF_STAT)
    utime, stime = (int(v) for v in own[own.rindex(b")") + 2 :].split()[11:13])  # fields 14, 15 of proc(5)
    return _Reading(time.monotonic(), (sum(cpu[:8]) - cpu[3] - cpu[4]) / tick, (utime + stime) / tick)


def _others_recently() -> float | None:
    """Cores the other processes used over the last interval of at least :data:`WINDOW_S` (None before one)."""
    now = _reading()
    since = _STATE.since
    if since is None or now.wall < since.wall:
        _STATE.since = now
    elif now.wall - since.wall >= WINDOW_S:
        machine_cpus = os.cpu_count() or 1
        used = (now.machine - since.machine - (now.own - since.own)) / (now.wall - since.wall)
        _STATE.others = max(0.0, used - (machine_cpus - _cpus()))  # others on CPUs we may not use do not count
        _STATE.since = now
    return _STATE.others


def free_cores() -> int:
    """The CPUs of this process less the cores other processes keep busy (module docstring), at least 1."""
    cpus = _cpus()
    try:
        others = _others_recently()
        busy = _others_now() if others is None else math.floor(others + 1 - BUSY_FRACTION)
    except (OSError, ValueError, IndexError):
        return cpus
    return max(1, cpus - busy)
