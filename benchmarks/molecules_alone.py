"""The molecule step as a user runs it: each implementation alone in a fresh process, with glibc's heap as it comes
and with the memory one step frees kept for the next (:func:`gatedgcn.ops.keep_freed_memory`, what ``gatedgcn
train`` sets).

The round robin of :func:`molecules.bench` runs every implementation in one process, so each step finds the heap
that the others' steps grew: the page faults a step pays alone (glibc hands freed memory back to the OS, and the
next step faults it in again) do not show there.  Here a process per implementation and heap runs
``--reps`` steps after two warm-up steps, and reports their median, its page faults and system time per step;
``rounds`` such processes per configuration run one after another, alternating, and the table gives the median of
their medians with the range.

    python benchmarks/bench.py molecules --alone 3   # besides the round robin, 3 processes per configuration
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import molecules
import torch

IMPLS = ("trainer", "fast", "pyg")
HEAPS = ("glibc", "kept")
NAMES = {"trainer": "ours, `Trainer._step`", "fast": "ours, default path", "pyg": "PyG"}


def one_process(impl: str, heap: str, reps: int) -> dict:
    """In this process: ``reps`` steps of ``impl`` after two warm-up steps -> their times, faults and system time."""
    if heap == "kept":
        from gatedgcn.ops import keep_freed_memory

        assert keep_freed_memory(), "not glibc: no kept heap to measure"
    batch = molecules.molecule_batch()
    step = molecules.steps(impls=("trainer",))["trainer"] if impl == "trainer" else _plain(impl)
    for _ in range(2):
        step(batch)
    before, times = resource.getrusage(resource.RUSAGE_SELF), []
    for _ in range(reps):
        start = time.perf_counter()
        step(batch)
        times.append(time.perf_counter() - start)
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "times": times,
        "faults_per_step": (after.ru_minflt - before.ru_minflt) / reps,
        "system_s_per_step": (after.ru_stime - before.ru_stime) / reps,
    }


def _plain(impl: str):
    """The plain loop's step of one implementation (as :func:`molecules.steps`, built alone)."""
    model = molecules.PyGNet(molecules.our_network("fast")) if impl == "pyg" else molecules.our_network(impl)
    model.train(True)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, **molecules.ADAM)
    return lambda b: molecules._plain_step(model, optimizer, b)


def bench(reps: int, threads: list[int], rounds: int) -> dict:
    """``rounds`` processes per implementation, heap and thread count, alternating -> the stored result."""
    here = Path(__file__).resolve().parent
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(here), os.environ.get("PYTHONPATH", "")])}
    rows = []
    for t in threads:
        runs: dict[str, list[dict]] = {f"{impl}/{heap}": [] for impl in IMPLS for heap in HEAPS}
        for _ in range(rounds):
            for key in runs:
                impl, heap = key.split("/")
                cmd = [sys.executable, __file__, impl, heap, str(reps), str(t)]
                done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True, timeout=600)
                runs[key].append(json.loads(done.stdout.splitlines()[-1]))
        med = {k: statistics.median(statistics.median(r["times"]) for r in v) for k, v in runs.items()}
        rows.append({"threads": t, "runs": runs, "median": med})
        print(
            f"molecules alone, {t} thread(s): "
            + "  ".join(f"{k} {1e3 * v:.1f} ms" for k, v in med.items())
            + "  "
            + "  ".join(f"pyg/fast {h} {med[f'pyg/{h}'] / med[f'fast/{h}']:.2f}x" for h in HEAPS),
            flush=True,
        )
    return {"reps": reps, "rounds": rounds, "rows": rows}


def _ms(runs: list[dict]) -> str:
    """The median of the processes' median step times, and their range, in ms."""
    per = [1e3 * statistics.median(x["times"]) for x in runs]
    return f"{statistics.median(per):.1f} ({min(per):.1f}–{max(per):.1f})"


def _of(runs: list[dict], key: str) -> float:
    return statistics.median(x[key] for x in runs)


def render(r: dict, title: str, machine_line: str) -> list[str]:
    """The section of docs/performance.md for one stored run of :func:`bench`."""
    out = [
        title,
        "",
        "The step of the molecules section, each implementation alone in a fresh process "
        f"(`benchmarks/molecules_alone.py`): {r['rounds']} processes per row, one after another and alternating, each "
        f"timing {r['reps']} steps after two warm-up steps; the median of the processes' medians, their range in "
        "brackets, and the page faults (`ru_minflt`) and system time per step (medians over the processes). "
        "glibc: the C library's heap as it comes; kept: `ops.keep_freed_memory()` first (`ops/heap.py`, what "
        "`gatedgcn train` sets, `train.keep_freed_memory`), for PyG as for ours.",
        "",
        machine_line,
        "",
        "| threads | heap | " + " | ".join(f"{NAMES[i]} (ms)" for i in IMPLS) + " | faults / step (ours, PyG) | "
        "system ms / step (ours, PyG) | PyG / default path | PyG / `Trainer._step` |",
        "| --- | --- | " + " | ".join("---" for _ in IMPLS) + " | --- | --- | --- | --- |",
    ]
    for row in r["rows"]:
        for heap in HEAPS:
            md = row["median"]
            runs = {impl: row["runs"][f"{impl}/{heap}"] for impl in IMPLS}  # each: one dict per process
            out.append(
                f"| {row['threads']} | {heap} | "
                + " | ".join(_ms(runs[i]) for i in IMPLS)
                + f" | {_of(runs['fast'], 'faults_per_step'):,.0f}, {_of(runs['pyg'], 'faults_per_step'):,.0f}"
                + f" | {1e3 * _of(runs['fast'], 'system_s_per_step'):.1f}, {1e3 * _of(runs['pyg'], 'system_s_per_step'):.1f}"
                + f" | **{md[f'pyg/{heap}'] / md[f'fast/{heap}']:.2f}×** | {md[f'pyg/{heap}'] / md[f'trainer/{heap}']:.2f}× |"
            )
    out.append("")
    return out


if __name__ == "__main__":
    impl, heap, reps, threads = sys.argv[1:5]
    torch.set_num_threads(int(threads))
    print(json.dumps(one_process(impl, heap, int(reps))))
