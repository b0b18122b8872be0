"""How many threads the compiled sweeps take (gatedgcn.ops._cores, gatedgcn.ops._gated_native): the free cores."""

from __future__ import annotations

import os

import pytest
import torch

from gatedgcn.ops import _cores, _native
from gatedgcn.ops import _gated_native as gated_native


@pytest.fixture(autouse=True)
def _fresh_state(monkeypatch):
    """Each test starts as a process's first call: no interval measured yet."""
    monkeypatch.setattr(_cores, "_STATE", _cores._State())


def fake_proc(monkeypatch, running_system: int, states: list[str], cpus: int = 2) -> dict:
    """/proc/loadavg with ``running_system`` running threads, this process's threads in ``states``; /proc/stat and
    /proc/self/stat at zero CPU time (the returned files: set their CPU seconds with :func:`cpu_seconds`)."""
    files = {_cores._LOADAVG: f"3.1 2.0 1.5 {running_system}/321 9999\n".encode()}
    for k, state in enumerate(states):
        files[f"{_cores._TASKS}/{k}/stat"] = f"{k} (odd ) name) {state} 1 2 3\n".encode()
    monkeypatch.setattr(_cores, "_read", lambda path: files[path])
    monkeypatch.setattr(_cores.os, "listdir", lambda path: [str(k) for k in range(len(states))])
    monkeypatch.setattr(_cores, "_cpus", lambda: cpus)
    monkeypatch.setattr(_cores.os, "cpu_count", lambda: cpus)
    cpu_seconds(files, 0.0, 0.0)
    return files


def cpu_seconds(files: dict, machine: float, own: float) -> None:
    """/proc/stat with ``machine`` busy CPU seconds (and idle time beside), /proc/self/stat with ``own``."""
    tick = os.sysconf("SC_CLK_TCK")
    busy = round(machine * tick)
    files[_cores._STAT] = f"cpu  {busy // 2} 0 {busy - busy // 2} 12345 7 0 0 0 0 0\ncpu0 1 2 3\n".encode()
    ticks = round(own * tick)
    fields = " ".join(["S"] + ["0"] * 10 + [str(ticks // 2), str(ticks - ticks // 2)] + ["0"] * 8)
    files[_cores._SELF_STAT] = f"4242 (odd ) name) {fields}\n".encode()


@pytest.mark.parametrize(
    "running, states, free",
    [
        (1, ["R", "S", "S"], 2),  # only our calling thread runs: both cores are free
        (2, ["R", "R"], 2),  # our own spinning OpenMP thread is no other process
        (2, ["R", "S"], 1),  # one busy neighbour
        (9, ["R", "S"], 1),  # a loaded machine: never fewer than one
    ],
)
def test_free_cores_are_the_cpus_less_the_other_processes_running_threads(monkeypatch, running, states, free):
    fake_proc(monkeypatch, running, states)
    assert _cores.free_cores() == free


@pytest.mark.parametrize(
    "others, free",
    [
        (1.0, 1),  # a neighbour busy-looping on one of the two cores
        (2.0, 1),  # two of them: never fewer than one
        (0.1, 2),  # a daemon waking now and then holds no core
        (0.4, 1),  # more than BUSY_FRACTION of a core
    ],
)
def test_after_the_first_call_the_others_use_is_measured_over_an_interval(monkeypatch, others, free):
    files = fake_proc(monkeypatch, 1, ["R"])  # this instant: nobody else runs
    clock = iter([100.0, 100.5, 101.0])
    monkeypatch.setattr(_cores.time, "monotonic", lambda: next(clock))
    assert _cores.free_cores() == 2  # the first call: the instant
    cpu_seconds(files, machine=0.5 * (others + 1.5), own=0.5 * 1.5)  # we used 1.5 cores for 0.5 s, they `others`
    assert _cores.free_cores() == free
    assert _cores._STATE.others == pytest.approx(others, abs=0.05)


def test_an_interval_shorter_than_the_window_keeps_the_last_measurement(monkeypatch):
    files = fake_proc(monkeypatch, 1, ["R"])
    clock = iter([10.0, 10.5, 10.6])
    monkeypatch.setattr(_cores.time, "monotonic", lambda: next(clock))
    _cores.free_cores()
    cpu_seconds(files, machine=0.5, own=0.0)  # one core busy elsewhere over 0.5 s
    assert _cores.free_cores() == 1
    cpu_seconds(files, machine=0.5, own=0.1)  # 0.1 s later: too short to measure, the last one stands
    assert _cores.free_cores() == 1


def test_without_proc_every_cpu_counts_as_free(monkeypatch):
    def missing(path):
        raise FileNotFoundError(path)

    monkeypatch.setattr(_cores, "_read", missing)
    monkeypatch.setattr(_cores, "_cpus", lambda: 3)
    assert _cores.free_cores() == 3


@pytest.mark.skipif(not os.path.exists("/proc/loadavg"), reason="Linux only")
def test_on_this_machine_the_count_lies_between_one_and_the_cpus():
    assert 1 <= _cores.free_cores() <= len(os.sched_getaffinity(0))


def test_the_sweeps_take_no_more_threads_than_free_cores_and_torch_allow(monkeypatch):
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        monkeypatch.setattr(gated_native, "free_cores", lambda: 1)
        assert gated_native._usable_threads(10**8) == 1
        monkeypatch.setattr(gated_native, "free_cores", lambda: 8)
        assert gated_native._usable_threads(10**8) == 2
        assert gated_native._usable_threads(10) == 2  # too small to look: one thread in the sweeps anyway
        assert gated_native._threads(10, 2) == (1, 1)
        assert gated_native._threads(10**8, 2) == (2, 2 * gated_native.UNITS_PER_THREAD)
    finally:
        torch.set_num_threads(threads)


def test_torch_runs_on_fewer_threads_within_a_call_and_is_restored(monkeypatch):
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        with gated_native._torch_threads(1):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with pytest.raises(RuntimeError), gated_native._torch_threads(1):
            raise RuntimeError("a failing kernel")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)


@pytest.mark.skipif(_native._compiler() is None, reason="no C++ compiler: the compiled kernels cannot be built here")
def test_forward_and_backward_each_look_at_the_free_cores_for_a_large_graph(monkeypatch):
    """Both passes of the op ask :func:`free_cores` (a backward that did not ran on 2 threads beside 2 busy processes)."""
    from gatedgcn import ops

    threads, asked, ran = torch.get_num_threads(), [], []
    monkeypatch.setattr(gated_native, "free_cores", lambda: asked.append(1) or 1)
    for name in ("_forward", "_backward"):
        inner = getattr(gated_native, name)
        monkeypatch.setattr(gated_native, name, lambda *a, _f=inner, **k: ran.append(k["cores"]) or _f(*a, **k))
    N, E, d = 1000, 4 * gated_native.MIN_ELEMENTS_PER_THREAD // 8, 8
    g = torch.Generator().manual_seed(0)
    leaves = [torch.randn(*s, generator=g).requires_grad_() for s in [(E, d), (d, d), (d,), (N, d), (N, d), (N, d)]]
    try:
        torch.set_num_threads(2)
        with ops.fused_kernels(chunk_rows=None):
            e_new, m, _ = ops.gated_edges(*leaves, torch.randint(0, N, (2, E), generator=g), 1e-6)
            (e_new.sum() + m.sum()).backward()
    finally:
        torch.set_num_threads(threads)
    assert asked == [1, 1] and ran == [1, 1]
