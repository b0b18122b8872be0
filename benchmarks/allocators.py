"""Memory of the fast path: the kernels' pool of reused blocks on and off, and the system allocator replaced.

Each configuration runs in its own process (``bench.py _one``): the gated layer's forward + backward on the
PATTERN-sized batch and on the 10M-edge random graph, with the pool on or off, and with glibc's malloc or
jemalloc / tcmalloc preloaded (``LD_PRELOAD``; Debian: ``apt-get install libjemalloc2 libtcmalloc-minimal4``).
A preloaded allocator that is not found on the machine is reported as missing, not silently skipped;
each process reports the allocator libraries it has mapped, so that a column names what really ran.
"""

from __future__ import annotations

import ctypes.util
import importlib.util
import statistics
from pathlib import Path

LIBRARIES = {"jemalloc": "libjemalloc.so.2", "tcmalloc": "libtcmalloc_minimal.so.4"}
SEARCH = (Path("/usr/lib/x86_64-linux-gnu"), Path("/usr/lib/aarch64-linux-gnu"), Path("/usr/lib64"), Path("/usr/lib"))
POOL_OFF = {"GATEDGCN_POOL": "0"}  # the pool's switch, where the code has one (gatedgcn.ops._memory, before issue 13)
WORKLOADS = (("pattern", 0), ("scale", 10_000_000))


def find(name: str) -> str | None:
    """The path of allocator library ``name`` (a key of :data:`LIBRARIES`), or None."""
    for folder in SEARCH:
        if (folder / LIBRARIES[name]).exists():
            return str(folder / LIBRARIES[name])
    return ctypes.util.find_library(name)


def has_pool() -> bool:
    """Whether this code has the kernels' memory pool (``gatedgcn.ops._memory``, switched off by ``GATEDGCN_POOL=0``)."""
    return importlib.util.find_spec("gatedgcn.ops._memory") is not None


def configurations() -> dict[str, dict[str, str] | None]:
    """Column name -> environment of the process (None: the allocator is not installed here).  With the pool:
    pool on and off with glibc's malloc, and off with each preloaded allocator; without it, the allocators only."""
    pool = has_pool()
    off = dict(POOL_OFF) if pool else {}
    out: dict[str, dict[str, str] | None] = {"pool on, glibc malloc": {}} if pool else {}
    out[("pool off, " if pool else "") + "glibc malloc"] = off
    for name in LIBRARIES:
        path = find(name)
        out[("pool off, " if pool else "") + name] = None if path is None else {**off, "LD_PRELOAD": path}
    return out


def mapped_allocators() -> list[str]:
    """The allocator libraries of :data:`LIBRARIES` this process has mapped (read from ``/proc/self/maps``)."""
    maps = Path("/proc/self/maps").read_text()
    return [name for name in LIBRARIES if name in maps]


def bench(run_one, reps: int, rounds: int) -> dict:
    """``run_one(workload, edges, reps, env) -> dict`` runs one process; rounds alternate the configurations."""
    configs = configurations()
    rows = []
    for workload, edges in WORKLOADS:
        runs: dict[str, list[dict]] = {name: [] for name, env in configs.items() if env is not None}
        for _ in range(rounds):
            for name in runs:
                r = run_one(workload, edges, reps, configs[name])
                runs[name].append(r)
                steady = statistics.median(r["times"][1:] or r["times"])
                print(
                    f"{workload:7s} {name:24s} first {r['times'][0]:.3f} s, then {steady:.3f} s, "
                    f"peak RSS {r['peak_rss_mib']:.0f} MiB (allocators mapped: {r['allocators'] or 'glibc'})",
                    flush=True,
                )
        rows.append({"workload": workload, "edges": edges, "runs": runs})
    missing = [name for name, env in configs.items() if env is None]
    return {"reps": reps, "rounds": rounds, "rows": rows, "missing": missing}


def render(r: dict, title: str, machine_line: str) -> list[str]:
    names = list(r["rows"][0]["runs"])
    out = [
        title,
        "",
        "One gated layer (fast path), forward + backward, each configuration in its own process; "
        f"{r['rounds']} round(s) alternating the configurations, {r['reps']} steps per process. "
        "Per cell: the median step after the first, the first step (page faults of every fresh block), and the peak "
        "RSS, each the median over the rounds. PATTERN-sized batch: d = 70, 599k edges; 10M edges: d = 16, 1M nodes.",
        "",
        machine_line,
        "",
        "| workload | " + " | ".join(names) + " |",
        "| --- | " + " | ".join("---" for _ in names) + " |",
    ]
    for row in r["rows"]:
        cells = []
        for name in names:
            runs = row["runs"][name]
            steady = statistics.median(statistics.median(x["times"][1:] or x["times"]) for x in runs)
            first = statistics.median(x["times"][0] for x in runs)
            rss = statistics.median(x["peak_rss_mib"] for x in runs) / 1024
            cells.append(f"{steady:.3f} s (first {first:.3f} s), {rss:.2f} GiB")
        label = "PATTERN-sized batch" if row["workload"] == "pattern" else f"{row['edges']:,} edges"
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    if r["missing"]:
        out += ["", f"Not installed on the machine, so not measured: {', '.join(r['missing'])}."]
    out.append("")
    return out
