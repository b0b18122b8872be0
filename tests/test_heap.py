"""keep_freed_memory: memory a step frees stays in the process for the next one (no page faults for it).

Each case runs in a child process: the setting changes the whole process's heap, and the count of page faults
(``ru_minflt``) must not include pytest's own."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gatedgcn.ops.heap import _mallopt, keep_freed_memory

from helpers import SRC

GLIBC = _mallopt() is not None  # the module's own test for glibc (it sets nothing)

# 200 blocks of 1 MiB written, freed, and written again (as a training step's outputs): the faults of the second round
ROUNDS = """
import resource, sys, torch
from gatedgcn.ops.heap import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
def step():
    blocks = [torch.empty(1 << 18).fill_(1.0) for _ in range(200)]  # 200 x [2^18] float32: 1 MiB each
    del blocks
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""
PAGES = 200 * (1 << 20) // 4096  # of the 200 MiB a round writes


def _faults(mode: str) -> int:
    env = {"PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", ROUNDS, mode], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return int(done.stdout)


@pytest.mark.skipif(not GLIBC, reason="the C library is not glibc: keep_freed_memory does nothing there")
def test_the_second_step_writes_into_kept_memory_where_glibc_would_have_handed_it_back():
    default = _faults("default")
    assert default > PAGES // 2  # the premise: glibc trims 200 MiB of free heap top, and every page faults again
    assert _faults("keep") < PAGES // 10  # (measured: 3 to 2,800 of 51,200)


def test_thresholds_outside_what_mallopt_takes_are_refused_by_name():
    with pytest.raises(ValueError, match="keep_freed_memory"):
        keep_freed_memory(mmap_from=0)
    with pytest.raises(ValueError, match="keep_freed_memory"):
        keep_freed_memory(trim_from=1 << 40)
