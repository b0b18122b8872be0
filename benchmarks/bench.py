"""Speed and memory of the family on this machine: ours (fast and reference paths) against PyTorch Geometric.

    python benchmarks/bench.py layers     # fwd+bwd times, PATTERN-sized batch, side by side in one process
    python benchmarks/bench.py molecules  # a whole training step, 4 gated layers, 128 molecule-sized graphs, vs PyG
    python benchmarks/bench.py thresholds # every fused path against its plain equations, 2^14 to 2^22 edge elements
    python benchmarks/bench.py memory     # peak RSS of one fwd+bwd, each implementation in its own subprocess
    python benchmarks/bench.py allocators # pool on / off, glibc malloc / jemalloc / tcmalloc (PATTERN batch, 10M edges)
    python benchmarks/bench.py scale      # one gated layer on a random graph of 1M, 10M, 50M edges (d = 16)
    python benchmarks/bench.py train      # seconds per epoch of `gatedgcn train` (default experiment), both paths
    python benchmarks/bench.py render     # only rewrite docs/performance.md from benchmarks/results/*.json

Every section prints its table, stores its numbers in ``benchmarks/results/<section>.json`` and
rewrites ``docs/performance.md`` from all stored sections.  Needs the optional ``pyg`` extra for
``layers`` and ``memory``.  ``--threads`` sets torch's intra-op threads (default 1: the machine is shared;
several values: one run each, stored apart); ``--contention`` runs the section with one busy-looping process
beside it.  Results are stored as ``<section>-<threads>t[-contended].json`` (``molecules[-contended].json``
holds every thread count).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DOC = ROOT / "docs" / "performance.md"
sys.path.insert(0, str(Path(__file__).resolve().parent))

import allocators  # noqa: E402
import molecules  # noqa: E402
import molecules_alone  # noqa: E402
import thresholds  # noqa: E402  (benchmarks/, on the path above)
from contention import busy_neighbour, condition, load_average  # noqa: E402

# The PATTERN-sized batch of issue 3: 128 graphs x 117 nodes, 40 random in-edges per node, d = 70.
GRAPHS, NODES, IN_EDGES, DIM = 128, 117, 40, 70
SCALE_EDGES = (1_000_000, 10_000_000, 50_000_000)
SCALE_DIM, SCALE_DEGREE = 16, 10


# ----------------------------------------------------------------------------- workloads


def pattern_batch(
    dim: int = DIM, seed: int = 0, shuffled: bool = False
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """x ``[N, d]``, edge_index ``[2, E]`` (unsorted), e ``[E, d]`` of the PATTERN-sized batch.

    As ``collate`` builds a batch, the graphs' edges come one graph after another, each graph's
    in random order (receivers not sorted); ``shuffled``: the edges of all graphs in one random
    order instead (every step then jumps between graphs: a harder case for the caches).
    """
    g = torch.Generator().manual_seed(seed)
    N = GRAPHS * NODES
    E = N * IN_EDGES
    i = torch.randint(0, N, (E,), generator=g)  # receivers: [E]
    j = (i // NODES) * NODES + torch.randint(0, NODES, (E,), generator=g)  # a sender in the same graph: [E]
    if not shuffled:
        by_graph = torch.argsort(i // NODES, stable=True)  # graph after graph, random order within each
        i, j = i[by_graph], j[by_graph]
    return torch.randn(N, dim, generator=g), torch.stack([j, i]), torch.randn(E, dim, generator=g)


def random_graph(edges: int, dim: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One random graph with ``edges`` edges on ``edges / SCALE_DEGREE`` nodes."""
    g = torch.Generator().manual_seed(seed)
    N = edges // SCALE_DEGREE
    return (
        torch.randn(N, dim, generator=g),
        torch.randint(0, N, (2, edges), generator=g),
        torch.randn(edges, dim, generator=g),
    )


# The gated layer's fast path twice: with its compiled kernels (the default) and with its PyTorch kernels.
TORCH_KERNELS = "fast-torch"


def kernel_choice(impl: str):
    """Within: for :data:`TORCH_KERNELS` the fused PyTorch kernels (not the compiled sweeps); else the defaults."""
    if impl != TORCH_KERNELS:
        return contextlib.nullcontext()
    from gatedgcn.ops import fused_kernels

    return fused_kernels(chunk_rows=None, compiled=False)


# The default fast path again, run with one thread within the round robin of a run with more (the contention check).
ONE_THREAD = "fast-1t"


@contextlib.contextmanager
def running(impl: str):
    """Within: the kernels of ``impl`` (:func:`kernel_choice`) and, for :data:`ONE_THREAD`, one torch thread."""
    threads = torch.get_num_threads()
    if impl == ONE_THREAD:
        torch.set_num_threads(1)
    try:
        with kernel_choice(impl):
            yield
    finally:
        torch.set_num_threads(threads)


# The default fast path under torch.compile (our ops are custom ops: no graph break at them).
COMPILED = "compiled"


def make_layer(kind: str, impl: str, dim: int) -> torch.nn.Module:
    """``kind`` in gated, gcn, attention; ``impl`` in fast, fast-torch, reference, pyg, compiled."""
    from gatedgcn.nn import GatedGCNLayer, GCNLayer, GraphAttention

    torch.manual_seed(0)
    ours = {
        "gated": lambda i: GatedGCNLayer(dim, impl=i),
        "gcn": lambda i: GCNLayer(dim, dim, activation=None, impl=i),
        "attention": lambda i: GraphAttention(dim, impl=i),
    }[kind]
    same = {"pyg": "reference", TORCH_KERNELS: "fast", ONE_THREAD: "fast", COMPILED: "fast"}
    layer = ours(same.get(impl, impl))  # the same weights
    if impl == COMPILED:
        return torch.compile(layer)
    if impl != "pyg":
        return layer
    from pyg_reference import PyGGatedGCN, PyGMeanConv, copy_weights, pyg_attention

    theirs = {
        "gated": lambda: PyGGatedGCN(dim),
        "gcn": lambda: PyGMeanConv(dim, dim),
        "attention": lambda: pyg_attention(dim),
    }[kind]()
    copy_weights(layer, theirs)
    return theirs


def step(layer: torch.nn.Module, kind: str, x: torch.Tensor, edge_index: torch.Tensor, e: torch.Tensor) -> None:
    """One forward + backward of ``h.sum() (+ e'.sum())`` in training mode."""
    x.grad = e.grad = None
    layer.zero_grad(set_to_none=True)
    if kind == "gated":
        h, e_new = layer(x, edge_index, e)
        (h.sum() + e_new.sum()).backward()
    else:
        layer(x, edge_index).sum().backward()
    if x.is_cuda:
        torch.cuda.synchronize(x.device)  # the step's kernels are done: the time is theirs


def check_same(kind: str, device: str = "cpu") -> float:
    """Largest difference of the outputs of ours and the PyG reference (float64, small graph)."""
    x, edge_index, e = ((t.double() if t.is_floating_point() else t).to(device) for t in random_graph(2000, 8, seed=1))
    ours, theirs = make_layer(kind, "fast", 8).double().to(device), make_layer(kind, "pyg", 8).double().to(device)
    args = (x, edge_index, e) if kind == "gated" else (x, edge_index)
    a, b = ours(*args), theirs(*args)
    a, b = (a if isinstance(a, tuple) else (a,)), (b if isinstance(b, tuple) else (b,))
    return max(float((u - v).abs().max().detach()) for u, v in zip(a, b))


# ----------------------------------------------------------------------------- sections


LAYER_ROWS = (("gated", False), ("gcn", False), ("attention", False), ("gated", True))


def bench_layers(
    reps: int,
    device: str = "cpu",
    kinds: tuple[str, ...] = ("gated", "gcn", "attention"),
    skip: tuple[str, ...] = (),
    shuffled_row: bool = True,
    compile: bool = False,
) -> dict:
    """Round robin over ours (fast, its PyTorch kernels, reference; on the CPU with more threads also the fast path
    with one) and PyG, per layer; on CUDA also the peak memory each one allocates in a step.  ``skip``: columns
    left out (not ``fast`` or ``pyg``); ``shuffled_row``: also the gated layer with all edges shuffled; ``compile``:
    also the fast path under ``torch.compile`` (compiled in the warm-up, whose time is kept apart)."""
    rows = []
    cuda = device.startswith("cuda")
    for kind, shuffled in (row for row in LAYER_ROWS if row[0] in kinds and (shuffled_row or not row[1])):
        x, edge_index, e = (t.to(device) for t in pattern_batch(shuffled=shuffled))
        x.requires_grad_(True)
        e.requires_grad_(True)
        diff = check_same(kind, device)
        if diff > 1e-9:
            raise SystemExit(f"{kind}: ours and the PyG reference differ by {diff:.3g}; not timing")
        impls = (
            ("fast", TORCH_KERNELS, "reference", "pyg")
            if kind == "gated" and not cuda
            else ("fast", "reference", "pyg")
        )
        if kind == "gated" and torch.get_num_threads() > 1 and not cuda:
            impls += (ONE_THREAD,)
        impls = tuple(impl for impl in impls if impl not in skip or impl in ("fast", "pyg"))
        if compile and not cuda:
            impls += (COMPILED,)
        layers = {impl: make_layer(kind, impl, DIM).to(device) for impl in impls}
        peak = dict.fromkeys(layers, 0.0)  # CUDA: MiB allocated at the peak of a step, above the inputs
        first = {}
        for impl, layer in layers.items():  # warm-up
            with running(impl):
                start = time.perf_counter()
                step(layer, kind, x, edge_index, e)
                first[impl] = time.perf_counter() - start
        times = {impl: [] for impl in layers}  # wall clock
        cpu = {impl: [] for impl in layers}  # CPU time of this process (less sensitive to the other jobs)
        for _ in range(reps):  # round robin, so that the noise of the shared machine hits all alike
            for impl, layer in layers.items():
                with running(impl):
                    if cuda:
                        torch.cuda.reset_peak_memory_stats(device)
                        base = torch.cuda.memory_allocated(device)
                    start, start_cpu = time.perf_counter(), time.process_time()
                    step(layer, kind, x, edge_index, e)
                    times[impl].append(time.perf_counter() - start)
                    cpu[impl].append(time.process_time() - start_cpu)
                    if cuda:
                        peak[impl] = max(peak[impl], (torch.cuda.max_memory_allocated(device) - base) / 2**20)
        med = {impl: statistics.median(t) for impl, t in times.items()}
        med_cpu = {impl: statistics.median(t) for impl, t in cpu.items()}
        rows.append(
            {
                "layer": kind + (", edges shuffled" if shuffled else ""),
                "times": times,
                "cpu": cpu,
                "median": med,
                "median_cpu": med_cpu,
                "max_abs_diff_vs_pyg": diff,
                "first_step": first,
                **({"peak_mib": peak} if cuda else {}),
            }
        )
        print(
            f"{rows[-1]['layer']:10s} wall "
            + "  ".join(f"{k} {v:.3f} s" for k, v in med.items())
            + f"  pyg/fast {med['pyg'] / med['fast']:.2f}x"
            f"  | cpu pyg/fast {med_cpu['pyg'] / med_cpu['fast']:.2f}x"
            + (f"  | fast 1 thread / fast {med[ONE_THREAD] / med['fast']:.2f}x" if ONE_THREAD in med else ""),
            flush=True,
        )
    out = {"nodes": x.shape[0], "edges": edge_index.shape[1], "dim": DIM, "reps": reps, "rows": rows, "device": device}
    if cuda:
        out["gpu"] = torch.cuda.get_device_name(device)
    return out


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def one_run(kind: str, impl: str, workload: str, edges: int, reps: int) -> dict:
    """In a subprocess: time and peak RSS of fwd+bwd of one layer (prints a JSON line)."""
    if workload == "pattern":
        x, edge_index, e = pattern_batch()
    else:
        x, edge_index, e = random_graph(edges, SCALE_DIM)
    dim = x.shape[1]
    layer = make_layer(kind, impl, dim)
    x.requires_grad_(True)
    e.requires_grad_(True)
    before = _peak_rss_mib()
    times = []
    for _ in range(reps):
        with kernel_choice(impl):
            start = time.perf_counter()
            step(layer, kind, x, edge_index, e)
            times.append(time.perf_counter() - start)
    return {
        "peak_rss_mib": _peak_rss_mib(),
        "inputs_rss_mib": before,
        "times": times,
        "allocators": allocators.mapped_allocators(),
    }


def _subprocess(*args: str, env: dict[str, str] | None = None) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "_one", *args],
        capture_output=True,
        text=True,
        check=True,
        env=None if env is None else {**os.environ, **env},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_allocators(reps: int, rounds: int) -> dict:
    """Pool on / off, glibc malloc / jemalloc / tcmalloc: see :mod:`allocators`."""
    return allocators.bench(
        lambda workload, edges, n, env: _subprocess("gated", "fast", workload, str(edges), str(n), env=env),
        reps,
        rounds,
    )


def bench_memory() -> dict:
    rows = []
    for impl in ("fast", TORCH_KERNELS, "reference", "pyg", COMPILED):
        r = _subprocess("gated", impl, "pattern", "0", "1")
        r["impl"] = impl
        rows.append(r)
        print(
            f"gated {impl:9s} peak RSS {r['peak_rss_mib']:.0f} MiB, above inputs {r['peak_rss_mib'] - r['inputs_rss_mib']:.0f} MiB",
            flush=True,
        )
    return {"rows": rows}


def _available_mib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return float("inf")


def bench_scale(reps: int, sizes: tuple[int, ...]) -> dict:
    rows, per_edge_mib = [], None
    for edges in sizes:
        need = None if per_edge_mib is None else per_edge_mib * edges * 1.05
        free = _available_mib()
        if need is not None and need > free - 1024:
            print(
                f"{edges:,} edges: needs about {need / 1024:.1f} GiB, {free / 1024:.1f} GiB available: stopped",
                flush=True,
            )
            rows.append(
                {"edges": edges, "skipped": f"needs about {need / 1024:.1f} GiB, {free / 1024:.1f} GiB available"}
            )
            break
        r = _subprocess("gated", "fast", "scale", str(edges), str(reps))
        r["edges"], r["nodes"] = edges, edges // SCALE_DEGREE
        r["available_mib_before"] = free
        rows.append(r)
        per_edge_mib = r["peak_rss_mib"] / edges
        t = statistics.median(r["times"][1:] or r["times"])
        print(
            f"{edges:>12,} edges: {t:.2f} s fwd+bwd ({1e9 * t / edges:.0f} ns/edge), peak RSS {r['peak_rss_mib'] / 1024:.2f} GiB",
            flush=True,
        )
    return {"dim": SCALE_DIM, "degree": SCALE_DEGREE, "rows": rows}


def bench_train(rounds: int, epochs: int) -> dict:
    times = {"reference": [], "fast": []}
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(rounds):
            for impl in times:
                out = Path(tmp) / f"{impl}-{k}"
                cmd = [
                    sys.executable,
                    "-m",
                    "gatedgcn",
                    "train",
                    "--quiet",
                    "--json",
                    "--epochs",
                    str(epochs),
                    "--set",
                    f"model.impl={impl}",
                    "--out",
                    str(out),
                ]
                subprocess.run(
                    cmd,
                    capture_output=True,
                    text=True,
                    check=True,
                    env={**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())},
                )
                per_epoch = [
                    json.loads(line)["seconds"]
                    for line in (out / "metrics.jsonl").read_text().splitlines()
                    if line.strip()
                ]
                times[impl].append(statistics.median(per_epoch))
                print(f"train {impl:9s} {times[impl][-1]:.3f} s/epoch", flush=True)
    return {"epochs": epochs, "rounds": rounds, "seconds_per_epoch": times}


# ----------------------------------------------------------------------------- the document


def _commit() -> str:
    """The checkout's commit (with ``+`` when the tree has changes), or ``unknown``."""
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "src"], capture_output=True, text=True)
    except OSError:
        return "unknown"
    return head.stdout.strip() + ("+" if dirty.stdout.strip() else "") if head.returncode == 0 else "unknown"


def machine() -> dict:
    """The machine a run measured: the CPU's name with its family and model where the OS tells them (a virtual
    machine's "AMD EPYC" is a Zen 4 at family 25, a Zen 5 at 26: not the same matrix products), versions, load."""
    info: dict[str, str] = {}
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        key, _, value = line.partition(":")
        info.setdefault(key.strip(), value.strip())
    cpu = info.get("model name") or platform.processor()
    if "cpu family" in info:
        cpu += f" (family {info['cpu family']}, model {info.get('model', '?')})"
    try:
        import torch_geometric

        pyg = torch_geometric.__version__
    except ImportError:
        pyg = "not installed"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_geometric": pyg,
        "threads": torch.get_num_threads(),
        "load_average": load_average(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": _commit(),
    }


def _spread(ts: list[float]) -> str:
    return f"{statistics.median(ts):.3f} ({min(ts):.3f}–{max(ts):.3f})"


def _cell(row: dict, t: dict, impl: str) -> str:
    """A column's times, or why it has none (the layer has one code path there, or ``--skip`` left it out)."""
    if impl in t:
        return _spread(t[impl])
    return "same code" if impl == TORCH_KERNELS and not row["layer"].startswith("gated") else "not run"


def _render_layers(r: dict) -> list[str]:
    out: list[str] = []
    m = r["machine"]
    out += [
        _title("Layers, forward + backward, PATTERN-sized batch" + (f", CUDA: {r['gpu']}" if "gpu" in r else ""), r),
        "",
        f"{r['nodes']:,} nodes (128 graphs × 117), {r['edges']:,} edges (40 random in-edges per node from the same graph), d = {r['dim']}, "
        f"float32, batch norm and residual on, dropout 0, loss `h.sum() + e.sum()`; {r['reps']} repetitions after one warm-up.",
        "The edges come as `collate` batches them: graph after graph, each graph's edges in random order (receivers unsorted). "
        "The last row shuffles the edges of all graphs together, so that consecutive edges touch rows of different graphs "
        "(node tables of 4–8 MB read at random: the cache-unfriendly case).",
        "References: our equation as a PyG `MessagePassing` layer (gated), a mean-aggregation `MessagePassing` layer (GCN), "
        "`TransformerConv` with one head, no edge features, no root weight (graph attention); "
        "each is checked to give our outputs (float64, max abs difference in the last column) before timing.",
        "",
        _machine_line(m, r.get("conditions")),
        "",
        "Wall-clock seconds:",
        "",
        "| layer | ours, fast (s) | fast, PyTorch kernels (s) | ours, reference (s) | PyG (s) | PyG / fast | PyG / fast-torch "
        "| ours, fast, 1 thread (s) (its time / fast's) | max abs diff vs PyG |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in r["rows"]:
        t, md = row["times"], row["median"]
        off_ratio = f"{md['pyg'] / md[TORCH_KERNELS]:.2f}× | " if TORCH_KERNELS in md else "– | "
        one = f"{_spread(t[ONE_THREAD])} ({md[ONE_THREAD] / md['fast']:.2f}×) | " if ONE_THREAD in t else "– | "
        out.append(
            f"| {row['layer']} | {_spread(t['fast'])} | {_cell(row, t, TORCH_KERNELS)} | {_cell(row, t, 'reference')} | "
            f"{_spread(t['pyg'])} | **{md['pyg'] / md['fast']:.2f}×** | {off_ratio}{one}{row['max_abs_diff_vs_pyg']:.1e} |"
        )
    for row in r["rows"]:
        if COMPILED in row["times"]:
            md = row["median"]
            out += [
                "",
                f"{row['layer']}, ours under `torch.compile` (default path): {_spread(row['times'][COMPILED])} s, "
                f"PyG / compiled **{md['pyg'] / md[COMPILED]:.2f}×**; its first step, with the compilation, "
                f"{row['first_step'][COMPILED]:.1f} s.",
            ]
    out += [
        "",
        "CPU seconds of the process (`time.process_time`, user + system; counts page faults, not the time spent "
        "waiting for a core while other jobs run):",
        "",
        "| layer | ours, fast (s) | fast, PyTorch kernels (s) | ours, reference (s) | PyG (s) | PyG / fast |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in r["rows"]:
        t, md = row["cpu"], row["median_cpu"]
        out.append(
            f"| {row['layer']} | {_spread(t['fast'])} | {_cell(row, t, TORCH_KERNELS)} | {_cell(row, t, 'reference')} | "
            f"{_spread(t['pyg'])} | **{md['pyg'] / md['fast']:.2f}×** |"
        )
    if any("peak_mib" in row for row in r["rows"]):
        out += [
            "",
            "Peak CUDA memory allocated during a step, above the inputs (`torch.cuda.max_memory_allocated`, MiB):",
            "",
            "| layer | " + " | ".join(r["rows"][0]["peak_mib"]) + " | ours fast / PyG |",
            "| --- | " + " | ".join("---" for _ in r["rows"][0]["peak_mib"]) + " | --- |",
        ]
        for row in r["rows"]:
            pk = row["peak_mib"]
            out.append(
                f"| {row['layer']} | "
                + " | ".join(f"{v:.0f}" for v in pk.values())
                + f" | {pk['fast'] / pk['pyg']:.2f} |"
            )
    out.append("")
    return out


def _render_memory(r: dict) -> list[str]:
    out: list[str] = []
    base = next(row for row in r["rows"] if row["impl"] == "pyg")
    above = lambda row: row["peak_rss_mib"] - row["inputs_rss_mib"]  # noqa: E731
    out += [
        _title("Peak memory of one forward + backward (gated layer, PATTERN-sized batch)", r),
        "",
        "Each implementation in its own subprocess; peak resident set size (`ru_maxrss`) of the process, and the part of it "
        "above the inputs (the RSS once the batch and the layer were built). `compiled` is the default path under "
        "`torch.compile`: its one step includes the compilation, whose memory counts in its peak.",
        "",
        _machine_line(r["machine"], r.get("conditions")),
        "",
        "| implementation | peak RSS (MiB) | peak RSS, ratio to PyG | above inputs (MiB) | above inputs, ratio to PyG |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in r["rows"]:
        out.append(
            f"| {row['impl']} | {row['peak_rss_mib']:.0f} | {row['peak_rss_mib'] / base['peak_rss_mib']:.2f} | "
            f"{above(row):.0f} | {above(row) / above(base):.2f} |"
        )
    out.append("")
    return out


def _render_scale(r: dict) -> list[str]:
    out: list[str] = []
    out += [
        _title("Scaling: one gated layer on one random graph (fast path)", r),
        "",
        f"d = {r['dim']}, {r['degree']} edges per node on average (uniform random senders and receivers), forward + backward; "
        "time is the median over the repetitions after the first. The first one of a process also page-faults in every "
        "block of the memory pool (and, on a machine's first run, builds the compiled kernels); its time is given apart.",
        "",
        _machine_line(r["machine"], r.get("conditions")),
        "",
        "| edges | nodes | fwd+bwd (s) | per edge (ns) | first fwd+bwd of the process (s) | peak RSS (GiB) | RSS per edge (bytes) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in r["rows"]:
        if "skipped" in row:
            out.append(f"| {row['edges']:,} | – | not run: {row['skipped']} | | | | |")
            continue
        t = statistics.median(row["times"][1:] or row["times"])
        out.append(
            f"| {row['edges']:,} | {row['nodes']:,} | {t:.2f} | {1e9 * t / row['edges']:.0f} | {row['times'][0]:.2f} | "
            f"{row['peak_rss_mib'] / 1024:.2f} | {row['peak_rss_mib'] * 2**20 / row['edges']:.0f} |"
        )
    done = [row for row in r["rows"] if "skipped" not in row]
    if len(done) >= 2:
        a, b = done[-2], done[-1]
        ta, tb = (statistics.median(x["times"][1:] or x["times"]) for x in (a, b))
        slope = (b["peak_rss_mib"] - a["peak_rss_mib"]) * 2**20 / (b["edges"] - a["edges"])
        out += [
            "",
            f"Marginal cost between the two largest runs: {slope:.0f} bytes and {1e9 * (tb - ta) / (b['edges'] - a['edges']):.0f} ns "
            f"per added edge (a tenth of a node comes with each edge). At that rate {SCALE_EDGES[-1]:,} edges need about "
            f"{(b['peak_rss_mib'] * 2**20 + slope * (SCALE_EDGES[-1] - b['edges'])) / 2**30:.1f} GiB.",
            "Per edge, 1M edges cost less than the larger graphs: their node tables (100k nodes × 16 × 4 bytes each) fit "
            "in the 32 MiB L3 cache, while from 10M edges on every gather of a node row is a random read from memory "
            "(the compiled sweeps prefetch the rows 16 edges ahead); from there time and memory grow in proportion to the edges.",
        ]
    out.append("")
    return out


def _render_train(r: dict) -> list[str]:
    out: list[str] = []
    t = r["seconds_per_epoch"]
    out += [
        _title("Training: `gatedgcn train` on the default experiment", r),
        "",
        f"`gatedgcn train --epochs {r['epochs']} --set model.impl=<impl>` (4 gated GCN layers of width 100, mini graph "
        f"classification set, batch 50), {r['rounds']} alternating rounds; seconds per epoch = the median of the epochs' "
        "`seconds` in the run's `metrics.jsonl`, one value per run. `reference` is the plain code of the layers "
        "as it was before the fast path (it now skips computing η when no one asks for it, as the fast path does).",
        "",
        _machine_line(r["machine"], r.get("conditions")),
        "",
        "| implementation | s / epoch |",
        "| --- | --- |",
    ]
    for impl, ts in t.items():
        out.append(
            f"| {impl} (before: the plain code) | {_spread(ts)} |"
            if impl == "reference"
            else f"| {impl} (after) | {_spread(ts)} |"
        )
    out.append(
        f"\nSpeed-up of a training epoch: {statistics.median(t['reference']) / statistics.median(t['fast']):.2f}×.\n"
    )
    return out


def _render_molecules(r: dict) -> list[str]:
    title = _title("Training step on a batch of molecules: 4 gated layers, width 70", r)
    return molecules.render(r, title, _machine_line(r["machine"], r.get("conditions")))


def _render_molecules_alone(r: dict) -> list[str]:
    title = _title("Training step on a batch of molecules, each implementation alone in its process", r)
    return molecules_alone.render(r, title, _machine_line(r["machine"], r.get("conditions")))


def _render_allocators(r: dict) -> list[str]:
    title = _title("Memory: the pool on and off, and the system allocator replaced", r)
    return allocators.render(r, title, _machine_line(r["machine"], r.get("conditions")))


def _render_thresholds(r: dict) -> list[str]:
    title = _title("Thresholds: each fused path against its plain equations, by size", r)
    return thresholds.render(r, title, _machine_line(r["machine"], r.get("conditions")))


RENDERERS = {
    "thresholds": _render_thresholds,
    "layers": _render_layers,
    "molecules": _render_molecules,
    "molecules_alone": _render_molecules_alone,
    "memory": _render_memory,
    "allocators": _render_allocators,
    "scale": _render_scale,
    "train": _render_train,
}


def render() -> str:
    res = {p.stem: json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))}
    out = [
        "# Performance on CPU",
        "",
        "Written by `python benchmarks/bench.py <section>` (see its docstring); every number below comes from that script.",
        "Times are medians of forward + backward in training mode, with the range (min–max) in brackets.",
        "The machine is shared with other jobs: the load average at the time of each section is given, and",
        "side-by-side comparisons are run round robin in one process so that the noise hits all implementations alike.",
        "Each section states its torch threads, whether one busy-looping process ran beside it (`--contention`), and the "
        "load average (`/proc/loadavg`) before and after it: the machine's 2 cores are shared with other jobs, so "
        "'no added load' is not 'quiet': read the load average next to each table.",
        "Even quiet, this virtual machine has slow phases of seconds to minutes in which memory-bound work with two threads "
        "takes up to twice as long (the cause lies outside the process; one candidate is the kernel's DAMON page-out monitor, which runs here); they show as the upper ends of the ranges, and the "
        "round robin spreads them over all implementations. No GPU was lent to us, so there are no CUDA figures yet.",
        "",
        "## How the fast path works",
        "",
        "Every layer calls the ops of `src/gatedgcn/ops/` (`torch.library` custom ops: `gatedgcn::gated_edges`, "
        "`norm_relu_residual`, `gather_scatter`, `edge_dot`, `linear`), and each op picks its kernel by device and size "
        "(`ops/_select.py`): the plain equations below its threshold `MIN_ELEMENTS[op]` (edge-tensor elements E·d) "
        'or with `impl="reference"`; above it the fused kernels, which stream the edges in cache-sized chunks and keep '
        "only e and `[N, ·]` tables for backward (the gated op recomputes ê there, into the `[E, d]` that then receives "
        "∂e; η is never stored), their large `[E, d]` outputs on transparent huge pages where the kernel grants them "
        "on request (`ops/_native.py`, `empty`: each step's fresh 168 MB tensors otherwise cost more in page faults "
        "than the sweeps that fill them; but on 2026-12-02 from ~14:30, in a process that had also run the PyG "
        "layer's 1.5 GB steps, the first fill of those pages grew from step to step (the compiled path's e' fill "
        "0.34, 0.97, 1.69 s in one such run; the compiled path's one-thread step in the round robin took 1.1 s at "
        "15:23 and 3.6 s at 14:42, against 0.74 s run alone; not yet understood, left as found). The linear maps run on oneDNN's product where it is the faster "
        "(`gatedgcn::linear`, `ops/linear_maps.py`: float32 from 256 rows; on an AMD Zen 5 (family 26) torch's MKL takes "
        "its AVX2 code, oneDNN AVX-512, 2.2× faster at the molecule batch's sizes; on a Zen 4 (family 25: the molecule "
        "sections below, 17:43), whose AVX-512 runs at half width, much less: the molecule step's PyG / default path "
        "fell from 1.19–1.48× to 1.20–1.27× at 1 thread). A small batch's step also pays for page faults: glibc hands "
        "the memory freed at the end of a step back to the OS, and the next step faults it in again (2,600–3,500 faults, "
        "5–8 ms of a 30–45 ms step, each implementation alone in its process); `ops.keep_freed_memory()` "
        "(`ops/heap.py`, set by `gatedgcn train`: `train.keep_freed_memory`) keeps it, and the molecule sections below "
        "measure with it (the alone section with and without it). For the gated op on the CPU the fused kernels "
        "are the compiled sweeps of `ops/csrc/gated_edges.cpp` (`ops/_gated_native.py`; built on first use, off with the "
        "documented `GATEDGCN_NATIVE=0`), elsewhere the PyTorch chunked kernels (`ops/_gated_torch.py`, column `fast-torch`). "
        "The thresholds come from the sweep in the next section. The memory pool of the earlier code is gone "
        "(the allocators section measures it against glibc's malloc, jemalloc and tcmalloc).",
        "",
        "## Threads on a shared machine",
        "",
        "This machine's 2 cores are shared by several sessions, and the kernel groups each session's processes "
        "(`/proc/sys/kernel/sched_autogroup_enabled` is 1): every busy session gets an equal share of the CPU whatever "
        "its `nice`, so with three other busy sessions a process of ours gets about half a core, and its second torch "
        "thread brings nothing (a 2000² matmul ran at 26 GFLOPS with one thread and with two). A busy process started "
        "beside a benchmark (`--contention`) shares that benchmark's own share. Under such load the compiled sweeps "
        "used to collapse (the gated layer took 14.7 s a step with 2 threads against 4.3 s with one, code at bc8ce2b, "
        "load average 4.6, contended): each of ~160 chunks per pass opened a parallel region, and each region waited "
        "at its barrier for a thread that had no core. The sweeps now (1) run at most 8 chunks per pass, (2) split "
        "each sweep into 4 units of work per thread, each owning a range of node ids, handed out one at a time (a "
        "descheduled thread holds up one unit, not half the sweep; each node row is still written by one unit, so the "
        "result does not depend on the scheduling), and (3) look once per call at the free cores (the CPUs of the "
        "process less the cores the other processes used over the last quarter second: the machine's CPU time in "
        "`/proc/stat` less the process's own, `ops/_cores.py`; one instant of `/proc/loadavg`, the first design, "
        "saw both cores free in 6 of 12 calls beside two training processes) and run on no more threads than that, their matmuls included. The figures are in the "
        "contended layers section below; what still separates the default from the one-thread run there are the "
        "layer's own torch operations outside the op (the node projections, the node batch norm, the loss), which run "
        "on torch's threads, and libgomp's idle threads, which spin for a while after each of those parallel regions "
        "on the cores that the neighbour and our calling thread need. With `OMP_WAIT_POLICY=PASSIVE` set before the "
        "process starts (the user's choice: a library cannot change it once torch has loaded libgomp) the gap closed "
        "beside two training processes of another session (2026-12-02 07:02, load average 2.8, 5 round-robin steps): "
        "the time outside the op 0.097 s with 2 threads against 0.100 s with one, where it was 0.31 against 0.10 s "
        "without it. "
        "The GCN and attention ops (`gather_scatter`, `edge_dot`: PyTorch chunked kernels, ~80 chunks of a few torch "
        "operations per pass) have not had this treatment yet: beside a busy-looping process they keep 1.8× and 3.8× "
        "PyG (the contended layers section below, 15:27), against 3.0× and 7.1× quiet. "
        "A whole training step on a small batch is mostly torch's own operations (matmuls, norms, the optimizer), "
        "which no op of ours can shield: on a batch of 128 molecules beside a busy process, 2 torch threads made the "
        "step 1.6–3× slower than 1 thread, for PyG and for our plain loop alike (2026-12-02 14:42, Zen 5); on the Zen 4 at 17:43 PyG's 1.8× (96.1 "
        "against 53.2 ms) and our plain loop's 3.5× (156.7 against 45.2 ms; most likely because its oneDNN products and sweeps are more, "
        "shorter parallel regions than PyG's, each waiting at its barrier; the contended molecules section). "
        "So `gatedgcn train` asks before each step how many cores are free (`train/threads.py`, the same "
        "`ops.free_cores`) and runs the step on no more torch threads than that (`train.adapt_threads`, default on; "
        "off for a run that must not vary its thread count): the `Trainer._step` column there.",
        "",
    ]
    for name, draw in RENDERERS.items():
        for stem in sorted(s for s in res if s == name or s.startswith(name + "-")):
            out += draw(res[stem])
    return "\n".join(out)


def _title(what: str, r: dict) -> str:
    """A section heading that says the threads and whether a busy process ran beside."""
    threads = r.get("machine", {}).get("threads")
    how = [f"{threads} thread(s)"] if isinstance(threads, int) else []
    if "conditions" in r:
        how.append("under contention" if r["conditions"]["contended"] else "no added load")
        load = r["conditions"]["load_average_before"][0]
        if load > (os.cpu_count() or 1):
            how.append(f"machine loaded by other jobs: load average {load:.0f}")
    return f"## {what}" + (f" ({', '.join(how)})" if how else "")


def _machine_line(m: dict, conditions: dict | None = None) -> str:
    """Machine, versions, threads and the load: before the section (with ``conditions``) and at its end."""
    before = "" if conditions is None else f"load average {conditions['load_average_before']} before, "
    added = "" if conditions is None else f" {condition(conditions).capitalize()}."
    t = m["threads"]
    code = f", code at {m['commit']}" if "commit" in m else ""
    threads = (
        f"{t} torch thread(s)" if isinstance(t, int) else f"{' and '.join(map(str, t))} torch threads (one row each)"
    )
    return (
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; Python {m['python']}, torch {m['torch']}, "
        f"PyG {m['torch_geometric']}; {threads}; {before}load average {m['load_average']} at the end, "
        f"{m['date']}{code}.{added}"
    )


def _measure(section: str, args: argparse.Namespace, threads: int) -> dict:
    torch.set_num_threads(threads)
    os.environ["BENCH_THREADS"] = str(threads)
    return {
        "layers": lambda: bench_layers(
            args.reps, args.device, tuple(args.kinds), tuple(args.skip), not args.no_shuffled, args.compile
        ),
        "memory": bench_memory,
        "allocators": lambda: bench_allocators(args.reps, args.rounds),
        "thresholds": lambda: thresholds.bench(make_layer, step, args.reps),
        "scale": lambda: bench_scale(args.reps, tuple(args.sizes)),
        "train": lambda: bench_train(args.reps, args.epochs),
    }[section]()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_one":
        kind, impl, workload, edges, reps = sys.argv[2:7]
        torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "1")))
        print(json.dumps(one_run(kind, impl, workload, int(edges), int(reps))))
        return
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "section",
        choices=("layers", "molecules", "thresholds", "memory", "allocators", "scale", "train", "render"),
    )
    p.add_argument("--reps", type=int, default=5, help="timed repetitions (layers: after one warm-up)")
    p.add_argument(
        "--threads", type=int, nargs="+", default=[1], help="torch intra-op threads; several: one run each (default 1)"
    )
    p.add_argument(
        "--contention", action="store_true", help="run with one busy-looping process beside (started, stopped)"
    )
    p.add_argument("--device", default="cpu", help="layers: cpu or cuda (default cpu)")
    p.add_argument("--compile", action="store_true", help="molecules, layers: also ours under torch.compile (a column)")
    p.add_argument("--kinds", nargs="+", default=["gated", "gcn", "attention"], help="layers: which layers to time")
    p.add_argument(
        "--skip", nargs="+", default=[], help=f"layers: columns to leave out ({TORCH_KERNELS}, reference, {ONE_THREAD})"
    )
    p.add_argument("--no-shuffled", action="store_true", help="layers: no row with the edges shuffled")
    p.add_argument("--no-save", action="store_true", help="print the tables only (no results/*.json, no docs)")
    p.add_argument("--sizes", type=int, nargs="+", default=list(SCALE_EDGES), help="edge counts of the scaling run")
    p.add_argument("--epochs", type=int, default=5, help="epochs per training run")
    p.add_argument("--rounds", type=int, default=3, help="allocators: processes per configuration, alternating")
    p.add_argument(
        "--heap", choices=("kept", "glibc"), default="kept", help="molecules: keep_freed_memory() first, or not"
    )
    p.add_argument(
        "--alone", type=int, default=0, help="molecules: also N processes per implementation and heap, each alone"
    )
    args = p.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    results = {}
    if args.section != "render":
        suffix = "-contended" if args.contention else ""
        with busy_neighbour(args.contention) as conditions:
            if args.section == "molecules":
                if args.alone:  # first, while this process has not yet set its heap
                    results["molecules_alone" + suffix] = molecules_alone.bench(args.reps, args.threads, args.alone)
                    results["molecules_alone" + suffix]["machine"] = machine() | {"threads": args.threads}
                results["molecules" + suffix] = molecules.bench(args.reps, args.threads, args.compile, args.heap)
                results["molecules" + suffix]["machine"] = machine() | {"threads": args.threads}
            else:
                for t in args.threads:
                    pool = "-pool" if args.section == "allocators" and allocators.has_pool() else ""
                    name = f"{args.section}{pool}-{'cuda' if args.device != 'cpu' else f'{t}t'}{suffix}"
                    results[name] = _measure(args.section, args, t)
                    results[name]["machine"] = machine()
        for name, result in results.items():
            result.setdefault("machine", machine())
            result["conditions"] = conditions
            if not args.no_save:
                (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1))
    if args.no_save:
        return
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(render())
    print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
