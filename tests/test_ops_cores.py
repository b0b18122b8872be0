"""How many threads the compiled sweeps take (gatedgcn.ops._cores, gatedgcn.ops._gated_native): the free cores."""

from __future__ import annotations

import os

import pytest
import torch

from gatedgcn.ops import _cores
from gatedgcn.ops import _gated_native as gated_native


def fake_proc(monkeypatch, running_system: int, states: list[str], cpus: int = 2) -> None:
    """/proc/loadavg with ``running_system`` running threads, this process's threads in ``states``."""
    files = {_cores._LOADAVG: f"3.1 2.0 1.5 {running_system}/321 9999\n".encode()}
    for k, state in enumerate(states):
        files[f"{_cores._TASKS}/{k}/stat"] = f"{k} (odd ) name) {state} 1 2 3\n".encode()
    monkeypatch.setattr(_cores, "_read", lambda path: files[path])
    monkeypatch.setattr(_cores.os, "listdir", lambda path: [str(k) for k in range(len(states))])
    monkeypatch.setattr(_cores, "_cpus", lambda: cpus)


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
