"""The small-batch workload: one training step of a 4-layer gated network on a batch of molecule-sized graphs.

A batch as AQSOL's: 128 graphs of 10–24 atoms, each a random tree of bonds plus a ring closure per ten atoms
(≈ 2.1 directed edges per node), atom categories from a vocabulary of 65, no edge features (the
``aqsol_gatedgcn_L4`` preset as ``gatedgcn train`` builds it: 4 layers, width 70, mean readout, MLP head, L1 loss,
no edge state computed in the last layer; the PyG network computes it and reads it nowhere).  A step is
``zero_grad``, forward, loss, backward and an Adam step, timed round robin for

- ``trainer``: our default path through :meth:`gatedgcn.train.trainer.Trainer._step` (what ``gatedgcn train`` runs per batch:
  it adds the batch-norm buffer copies, the finite checks and the epoch's running sums, and runs the step on no more
  threads than the cores other processes leave free, ``train.adapt_threads``);
- ``fast`` / ``reference``: our network (default path / plain equations) in a plain loop;
- ``pyg``: the same network with PyG ``MessagePassing`` layers (:class:`pyg_reference.PyGGatedGCN`), the same weights,
  in the same plain loop;
- ``matmuls``: only the network's linear maps as PyG computes them, forward and backward, on tensors of the step's
  shapes (per layer A, B, D, E on the nodes and C on the edges, each one matmul; the head): ``pyg / matmuls`` bounds
  how much faster than PyG an implementation that computes those maps with torch's matmuls can be.  Ours computes
  fewer: the first layer's A, B, D, E act on the 65-row embedding table (:func:`gatedgcn.model.blocks.mapped_embedding`),
  its C e is one row (the learned edge state), and backward reuses forward's ê instead of recomputing C e; and it
  computes them on oneDNN's product where that is the faster (:mod:`gatedgcn.ops.linear_maps`: on AMD CPUs, where
  torch's MKL takes its AVX2 code).

The plain loops use the Adam the trainer uses (:data:`ADAM`), so that ours and PyG differ only in the network.
"""

from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F
from torch import Tensor, nn

MOLECULES, MIN_ATOMS, MAX_ATOMS, ATOM_TYPES, HIDDEN, LAYERS = 128, 10, 24, 65, 70, 4
IMPLS = ("trainer", "fast", "reference", "pyg", "matmuls")
ADAM = {"fused": True}  # the plain loops' Adam, for ours and PyG alike: as Trainer builds it
COMPILED = "compiled"  # with ``compile``: our default path under torch.compile(model), in the plain loop


def molecule_batch(seed: int = 0):
    """A :class:`gatedgcn.graph.Batch` of :data:`MOLECULES` molecule-sized graphs with a scalar target each."""
    from gatedgcn.graph import Graph, collate

    g = torch.Generator().manual_seed(seed)
    graphs = []
    for k in range(MOLECULES):
        n = int(torch.randint(MIN_ATOMS, MAX_ATOMS + 1, (1,), generator=g))
        child = torch.arange(1, n)
        parent = (torch.rand(n - 1, generator=g) * child).long()  # a random tree: each atom bonds to an earlier one
        rings = max(1, round(n / 10))
        a = torch.randint(0, n, (rings,), generator=g)
        b = (a + torch.randint(3, 6, (rings,), generator=g)) % n  # ring closures
        keep = a != b
        u, v = torch.cat([parent, a[keep]]), torch.cat([child, b[keep]])  # bonds
        edge_index = torch.stack([torch.cat([u, v]), torch.cat([v, u])])  # both directions: [2, 2 bonds]
        order = torch.randperm(edge_index.shape[1], generator=g)
        x = torch.randint(0, ATOM_TYPES, (n,), generator=g)  # atom categories: [n]
        graphs.append(Graph(x=x, edge_index=edge_index[:, order], y=torch.randn((), generator=g), name=f"mol{k}"))
    return collate(graphs)


def our_network(impl: str) -> nn.Module:
    from gatedgcn.model import GraphNet, ModelSpec

    torch.manual_seed(0)
    spec = ModelSpec(
        layer="gated_gcn", layers=LAYERS, hidden=HIDDEN, out_dim=1, in_dim=0, node_vocab=ATOM_TYPES,
        last_edge_update=False,  # as gatedgcn train builds it: the last layer's e' (read by nothing) is not computed
    )  # fmt: skip
    return GraphNet(ModelSpec(**{**spec.__dict__, "impl": impl}))


class PyGNet(nn.Module):
    """Our :class:`~gatedgcn.model.GraphNet` (gated, no edge features, mean readout) with PyG ``MessagePassing`` layers."""

    def __init__(self, ours: nn.Module) -> None:
        super().__init__()
        from pyg_reference import PyGGatedGCN, copy_weights

        hidden = ours.spec.hidden
        self.embed_h = nn.Embedding(ATOM_TYPES, hidden)
        self.embed_e = nn.Embedding(1, hidden)
        self.layers = nn.ModuleList(PyGGatedGCN(hidden) for _ in ours.layers)
        linears = [*ours.head.hidden, ours.head.out]
        self.head = nn.Sequential()
        for k, lin in enumerate(linears):
            self.head.append(nn.Linear(lin.in_features, lin.out_features))
            if k < len(linears) - 1:
                self.head.append(nn.ReLU())
        with torch.no_grad():
            self.embed_h.load_state_dict(ours.embed_h.state_dict())
            self.embed_e.load_state_dict(ours.embed_e.state_dict())
            for mine, theirs in zip(ours.layers, self.layers):
                copy_weights(mine, theirs)
            for src, dst in zip(linears, [m for m in self.head if isinstance(m, nn.Linear)]):
                dst.load_state_dict(src.state_dict())

    def forward(self, batch) -> Tensor:
        from torch_geometric.utils import scatter

        h = self.embed_h(batch.x)  # [N, d]
        e = self.embed_e.weight.expand(batch.num_edges, -1)  # [E, d]
        for layer in self.layers:
            h, e = layer(h, batch.edge_index, e)
        g = scatter(h, batch.node_graph, dim=0, dim_size=batch.num_graphs, reduce="mean")  # [B, d]
        return self.head(g)  # [B, 1]


def check_same(batch) -> float:
    """Largest difference of the outputs of our network (default path) and the PyG one (float64, training mode)."""
    ours = our_network("fast").double()
    theirs = PyGNet(ours).double()
    return float((ours(batch) - theirs(batch)).abs().max().detach())


def matmuls_only(batch):
    """A step of the network's linear maps alone (module docstring): a callable of the batch."""
    torch.manual_seed(0)
    node_maps = [nn.Linear(HIDDEN, HIDDEN) for _ in range(4 * LAYERS)]  # A, B, D, E of each layer
    edge_maps = [nn.Linear(HIDDEN, HIDDEN) for _ in range(LAYERS)]  # C of each layer
    head = our_network("fast").head
    x = torch.randn(batch.num_nodes, HIDDEN, requires_grad=True)  # [N, d]
    e = torch.randn(batch.num_edges, HIDDEN, requires_grad=True)  # [E, d]
    g = torch.randn(batch.num_graphs, HIDDEN)  # [B, d]

    def step(_batch) -> None:
        outs = [lin(x) for lin in node_maps] + [lin(e) for lin in edge_maps] + [head(g)]
        torch.autograd.backward([o.sum() for o in outs])

    return step


def _trainer_step(trainer, batch) -> None:
    """A step as ``gatedgcn train`` runs it: on the threads :func:`~gatedgcn.ops.free_cores` allows (the trainer's
    ``threads``, :mod:`gatedgcn.train.threads`), then torch's setting back."""
    from gatedgcn.train.threads import thread_count

    with thread_count(trainer.threads, trainer.device) as fit:
        fit()
        trainer._step(batch)


def _plain_step(model: nn.Module, optimizer: torch.optim.Optimizer, batch) -> None:
    optimizer.zero_grad(set_to_none=True)
    loss = F.l1_loss(model(batch).reshape(batch.y.shape), batch.y)
    loss.backward()
    optimizer.step()


def steps(lr: float = 1e-3, compile: bool = False, impls: tuple[str, ...] = IMPLS) -> dict:
    """One callable per implementation of ``impls``, each a whole training step on its own copy of the network."""
    from gatedgcn.ops import free_cores
    from gatedgcn.train.objective import Objective
    from gatedgcn.train.trainer import Schedule, Trainer

    out = {}
    for impl in impls + ((COMPILED,) if compile else ()):
        if impl == "trainer":
            trainer = Trainer(
                our_network("fast"), Objective("regression", "mae"), Schedule(lr=lr), progress=False, threads=free_cores
            )
            trainer.model.train(True)
            out[impl] = lambda b, t=trainer: _trainer_step(t, b)
            continue
        if impl == "matmuls":
            out[impl] = matmuls_only(molecule_batch())
            continue
        model = PyGNet(our_network("fast")) if impl == "pyg" else our_network("fast" if impl == COMPILED else impl)
        model.train(True)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr, **ADAM)
        if impl == COMPILED:
            model = torch.compile(model)
        out[impl] = lambda b, m=model, o=optimizer: _plain_step(m, o, b)
    return out


def bench(reps: int, threads: list[int], compile: bool = False, heap: str = "kept") -> dict:
    """Median step times per implementation and thread count (round robin within each thread count);
    ``compile``: also our network under ``torch.compile`` (its compilation, in the warm-up, is timed apart).
    ``heap="kept"``: the process keeps the memory a step frees (:func:`gatedgcn.ops.keep_freed_memory`, as
    ``gatedgcn train`` sets it), for every implementation; ``"glibc"``: the C library's heap as it comes."""
    if heap == "kept":
        from gatedgcn.ops import keep_freed_memory

        keep_freed_memory()
    batch = molecule_batch()
    diff = check_same(batch)
    if diff > 1e-9:
        raise SystemExit(f"molecules: our network and the PyG one differ by {diff:.3g}; not timing")
    rows = []
    for t in threads:
        torch.set_num_threads(t)
        run = steps(compile=compile)
        first = {}
        for k in range(min(2, reps)):  # warm-up: first calls, the kernels' build and the optimizers' state
            for impl, f in run.items():
                start = time.perf_counter()
                f(batch)
                if k == 0:
                    first[impl] = time.perf_counter() - start
        times = {impl: [] for impl in run}
        for _ in range(reps):
            for impl, f in run.items():
                start = time.perf_counter()
                f(batch)
                times[impl].append(time.perf_counter() - start)
        med = {impl: statistics.median(v) for impl, v in times.items()}
        rows.append({"threads": t, "times": times, "median": med, "first_step": first})
        print(
            f"molecules, {t} thread(s): "
            + "  ".join(f"{k} {1e3 * v:.1f} ms" for k, v in med.items())
            + f"  pyg/fast {med['pyg'] / med['fast']:.2f}x  pyg/trainer {med['pyg'] / med['trainer']:.2f}x"
            + f"  pyg/matmuls {med['pyg'] / med['matmuls']:.2f}x",
            flush=True,
        )
    return {
        "graphs": batch.num_graphs,
        "nodes": batch.num_nodes,
        "edges": batch.num_edges,
        "hidden": HIDDEN,
        "layers": LAYERS,
        "reps": reps,
        "max_abs_diff_vs_pyg": diff,
        "heap": heap,
        "rows": rows,
    }


HEAPS = {
    "kept": "The process keeps the memory a step frees for the next (`ops.keep_freed_memory()`, as `gatedgcn train` "
    "sets it: `train.keep_freed_memory`), for every implementation alike. ",
    "glibc": "The C library's heap as it comes (`--heap glibc`). ",
}
NAMES = {
    "trainer": "ours, `Trainer._step` (ms)",
    "fast": "ours, default path (ms)",
    "reference": "ours, reference path (ms)",
    "pyg": "PyG (ms)",
    "matmuls": "the linear maps alone (ms)",
    COMPILED: "ours, `torch.compile(model)` (ms)",
}


def render(r: dict, title: str, machine_line: str) -> list[str]:
    """The section of docs/performance.md for one stored run of :func:`bench`."""
    impls = [k for k in NAMES if k in r["rows"][0]["times"]]
    ms = lambda ts: f"{1e3 * statistics.median(ts):.1f} ({1e3 * min(ts):.1f}–{1e3 * max(ts):.1f})"  # noqa: E731
    out = [
        title,
        "",
        f"A whole training step (zero_grad, forward, L1 loss, backward, Adam) of a {r['layers']}-layer gated network, "
        f"width {r['hidden']} (the `aqsol_gatedgcn_L4` preset: atom embedding, mean readout, MLP head), on one batch of "
        f"{r['graphs']} molecule-sized graphs: {r['nodes']:,} nodes, {r['edges']:,} directed edges "
        f"({r['edges'] / r['nodes']:.2f} per node; random trees of 10–24 atoms plus a ring closure per ten atoms). "
        + HEAPS[r.get("heap", "glibc")]
        + "The linear-maps column is PyG's maps alone; ours computes fewer of them (the first layer's on the atom "
        "table, forward's ê kept for backward: `benchmarks/molecules.py`), and on oneDNN's product where it is the "
        "faster (`ops/linear_maps.py`: on AMD CPUs torch's MKL takes its AVX2 code, oneDNN AVX-512; what that gains "
        "depends on the CPU, which the machine line names). "
        "Medians of "
        f"{r['reps']} round-robin repetitions after two warm-up steps (one with `--reps 1`), range in brackets. `Trainer._step` is what `gatedgcn train` "
        "runs per batch (our default path, plus its batch-norm buffer copies, finite checks and running sums); the other "
        "columns run the same plain loop (with fused Adam, as the trainer). PyG: the same network with `MessagePassing` layers "
        f"(`benchmarks/pyg_reference.py`), the same weights (outputs checked equal in float64: {r['max_abs_diff_vs_pyg']:.1e}).",
        "",
        machine_line,
        "",
        "| threads | "
        + " | ".join(NAMES[k] for k in impls)
        + " | PyG / default path | PyG / `Trainer._step` |"
        + (" PyG / its linear maps (the bound for PyG's maps) |" if "matmuls" in impls else ""),
        "| --- | " + " | ".join("---" for _ in impls) + " | --- | --- |" + (" --- |" if "matmuls" in impls else ""),
    ]
    for row in r["rows"]:
        md, t = row["median"], row["times"]
        out.append(
            f"| {row['threads']} | "
            + " | ".join(ms(t[k]) for k in impls)
            + f" | **{md['pyg'] / md['fast']:.2f}×** | {md['pyg'] / md['trainer']:.2f}× |"
            + (f" {md['pyg'] / md['matmuls']:.2f}× |" if "matmuls" in impls else "")
        )
    if COMPILED in impls:
        out += [
            "",
            "First step of each (in the warm-up; for `torch.compile` it includes the compilation), seconds: "
            + "; ".join(
                f"{row['threads']} thread(s): compiled {row['first_step'][COMPILED]:.1f}, eager {row['first_step']['fast']:.2f}"
                for row in r["rows"]
            )
            + ".",
        ]
    out.append("")
    return out
