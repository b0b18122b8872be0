"""Memory and time of neighbour-sampled training on one big generated SBM graph, against full-batch training;
and of layer-wise chunked evaluation against the whole-graph forward.

    python benchmarks/sampling.py [--sizes 100000,500000,2000000] [--full-up-to 100000] [--steps 40]
    python benchmarks/sampling.py --parts eval --eval-sizes 100000,1000000,5000000 --eval-whole-up-to 1000000
    python benchmarks/sampling.py --parts accuracy --accuracy-size 20000 --accuracy-epochs 20

The graph: ``N`` nodes in 6 communities, each node receives ``D = 20`` edges, from its own community
with probability 0.7 and from anywhere otherwise; features = one-hot community + N(0, 1) noise;
target = community; 20 % of the nodes label the training split, 10 % validation, 10 % test.  Model:
2 gated GCN layers of width 16.  Every (size, mode) runs in its own process; peak memory is the
process's peak RSS minus its RSS once the graph is built (so the graph's own storage is not counted).
Sampled: ``--fanout 10,5``, 1024 seeds a step; its time per epoch is extrapolated from ``--steps`` steps;
its validation and test accuracy are evaluated layer by layer in chunks (:mod:`gatedgcn.layerwise`).
Evaluation (``--parts eval``): one forward of the (untrained) model over the validation graph in eval mode,
whole (``model(batch)``, fused kernels where they pay) or layer by layer in chunks of 16,384 receivers; peak
memory = peak RSS minus the RSS with the graph and its batch built.
Writes the tables to docs/distributed.md (between the markers) and prints them.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "distributed.md"
BEGIN, END = "<!-- sampling-table:begin -->", "<!-- sampling-table:end -->"
EVAL_BEGIN, EVAL_END = "<!-- inference-table:begin -->", "<!-- inference-table:end -->"
ACC_BEGIN, ACC_END = "<!-- accuracy-table:begin -->", "<!-- accuracy-table:end -->"
C, D, P_IN, NOISE, HIDDEN, FANOUT, SEEDS = 6, 20, 0.7, 1.0, 16, (10, 5), 1024


def sbm(n: int, seed: int = 0):
    from gatedgcn.graph import Graph
    from gatedgcn.train.metrics import UNLABELLED

    rng = np.random.default_rng(seed)
    community = rng.integers(0, C, n)  # [N]
    members = [np.flatnonzero(community == c) for c in range(C)]
    receivers = np.repeat(np.arange(n), D)  # [E]
    same = rng.random(n * D) < P_IN
    senders = rng.integers(0, n, n * D)  # [E]
    for c in range(C):  # a sender of the receiver's own community where `same`
        rows = np.flatnonzero(same & (community[receivers] == c))
        senders[rows] = members[c][rng.integers(0, len(members[c]), len(rows))]
    x = np.eye(C, dtype=np.float32)[community] + rng.normal(0, NOISE, (n, C)).astype(np.float32)  # [N, C]
    part = rng.random(n)  # 0-0.2 train, 0.2-0.3 val, 0.3-0.4 test
    edge_index = torch.from_numpy(np.stack([senders, receivers]))  # [2, E], shared by the three splits
    del senders, receivers, same

    def split(lo, hi):
        y = np.where((part >= lo) & (part < hi), community, UNLABELLED)
        return Graph(x=torch.from_numpy(x), edge_index=edge_index, y=torch.from_numpy(y))

    return split(0.0, 0.2), split(0.2, 0.3), split(0.3, 0.4)


def status_mb(key: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak since the last reset) of this process, in MB."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key)) / 1024


def reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # VmHWM := VmRSS (Linux)


def one(n: int, mode: str, steps: int, epochs: int) -> dict:
    """Runs in a child process: train, measure, print one JSON line."""
    torch.set_num_threads(1)
    from gatedgcn.data.sampling import NeighbourSampler
    from gatedgcn.graph import collate
    from gatedgcn.layerwise import DEFAULT_CHUNK, layerwise
    from gatedgcn.model import GraphNet, ModelSpec
    from gatedgcn.train.objective import Objective
    from gatedgcn.train.trainer import Schedule, Trainer

    train, val, test = sbm(n)
    if mode == "full":
        loader, per_epoch_steps = [collate([train])], 1
    else:
        sampler = NeighbourSampler(train, FANOUT, SEEDS, seed=0)  # its CSR index counts as the graph's storage
        loader, per_epoch_steps = (sampler if steps == 0 else _first(sampler, steps)), len(sampler)
    reset_peak()
    base = status_mb("VmRSS")
    torch.manual_seed(0)
    model = GraphNet(
        ModelSpec(layer="gated_gcn", layers=2, hidden=HIDDEN, out_dim=C, level="node", in_dim=C, graph_size_norm=False)
    )
    predict = (
        partial(layerwise, chunk=DEFAULT_CHUNK) if mode == "sampled" else None
    )  # as `gatedgcn train --fanout` evaluates
    trainer = Trainer(
        model,
        Objective("classification", "accuracy"),
        Schedule(epochs=epochs, lr=1e-2),
        progress=False,
        predict=predict,
    )
    start = time.perf_counter()
    trainer.fit(loader, {})
    seconds = (time.perf_counter() - start) / epochs
    row = {
        "nodes": n,
        "edges": train.num_edges,
        "mode": mode,
        "peak_mb": status_mb("VmHWM") - base,
        "s_per_epoch": seconds * (per_epoch_steps / steps if mode == "sampled" and steps else 1),
    }
    if steps == 0 or mode == "full":
        row |= {
            f"{name}_accuracy": trainer.evaluate({name: [collate([g])]})[name]["accuracy"]
            for name, g in (("val", val), ("test", test))
        }
    return row


def infer(n: int, mode: str) -> dict:
    """Runs in a child process: one evaluation forward over the validation graph, whole or in chunks; one JSON line."""
    torch.set_num_threads(1)
    from gatedgcn.graph import collate
    from gatedgcn.layerwise import DEFAULT_CHUNK, layerwise
    from gatedgcn.model import GraphNet, ModelSpec

    _, val, _ = sbm(n)
    batch = collate([val])
    torch.manual_seed(0)
    model = GraphNet(
        ModelSpec(layer="gated_gcn", layers=2, hidden=HIDDEN, out_dim=C, level="node", in_dim=C, graph_size_norm=False)
    ).eval()
    reset_peak()
    base = status_mb("VmRSS")
    start = time.perf_counter()
    with torch.no_grad():
        out = model(batch) if mode == "eval-whole" else layerwise(model, batch, DEFAULT_CHUNK)  # [N, C]
    seconds = time.perf_counter() - start
    return {
        "nodes": n,
        "edges": batch.num_edges,
        "mode": mode,
        "peak_mb": status_mb("VmHWM") - base,
        "seconds": seconds,
        "checksum": float(out.double().sum()),
        "graph_mb": base,
    }


class _first:
    """The first ``steps`` batches of a sampler, each epoch (the sampler's generator goes on)."""

    def __init__(self, sampler, steps: int) -> None:
        self.sampler, self.steps, self.generator = sampler, steps, sampler.generator

    def __len__(self) -> int:
        return self.steps

    def __iter__(self):
        for k, batch in enumerate(self.sampler):
            if k == self.steps:
                return
            yield batch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="100000,500000,2000000")
    p.add_argument("--full-up-to", type=int, default=100000, help="full-batch runs only up to this many nodes")
    p.add_argument(
        "--steps", type=int, default=40, help="sampled steps timed per size (0: whole epochs, with accuracy)"
    )
    p.add_argument("--epochs", type=int, default=1, help="epochs of the runs that measure memory and time")
    p.add_argument(
        "--accuracy-size",
        type=int,
        default=20000,
        help="nodes of the graph on which both modes are trained for accuracy",
    )
    p.add_argument("--accuracy-epochs", type=int, default=20)
    p.add_argument(
        "--parts",
        default="train,eval,accuracy",
        help="train (the memory table of sampled training), eval (chunked evaluation), accuracy (sampled vs full batch), comma-separated",
    )
    p.add_argument("--eval-sizes", default="100000,1000000,5000000", help="graphs of the evaluation table")
    p.add_argument(
        "--eval-whole-up-to", type=int, default=1000000, help="whole-graph evaluation only up to this many nodes"
    )
    p.add_argument("--child", nargs=4, metavar=("N", "MODE", "STEPS", "EPOCHS"), help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        n, mode = int(a.child[0]), a.child[1]
        print(json.dumps(infer(n, mode) if mode.startswith("eval") else one(n, mode, int(a.child[2]), int(a.child[3]))))
        return
    parts = a.parts.split(",")
    if "eval" in parts:
        evaluation_table(a)
    if "train" in parts:
        training_table(a)
    if "accuracy" in parts:
        accuracy_table(a)


def accuracy_table(a: argparse.Namespace) -> None:
    """Full batch and sampled training on the same graph, the same seed: at equal epochs, and full batch at the
    sampled run's number of steps (a full-batch epoch is one step, a sampled one ceil(0.2 N / 1024))."""
    n, epochs = a.accuracy_size, a.accuracy_epochs
    steps = -(-int(0.2 * n) // SEEDS)  # about: 20 % of the nodes are seeds
    runs = [("full", epochs), ("sampled", epochs), ("full", epochs * steps)]
    rows = [row | {"epochs": e} for mode, e in runs if (row := _child(n, mode, 0, e)) is not None]
    table = "\n".join(
        [
            "| training | epochs | gradient steps | val acc. | test acc. | s / epoch | peak memory of training (MB) |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        + [
            f"| {'full batch' if r['mode'] == 'full' else 'sampled 10,5 × 1024 seeds'} | {r['epochs']} | {r['epochs'] * (1 if r['mode'] == 'full' else steps)} | "
            f"{r['val_accuracy']:.3f} | {r['test_accuracy']:.3f} | {r['s_per_epoch']:.2f} | {r['peak_mb']:.0f} |"
            for r in rows
        ]
    ) + (
        f"\n\nSBM graph of {n:,} nodes and {20 * n:,} edges, 2 gated GCN layers of width 16, Adam lr 0.01, seed 0, one thread; "
        f"the sampled run is evaluated layer by layer in chunks; `python benchmarks/sampling.py --parts accuracy --accuracy-size {n} "
        f"--accuracy-epochs {epochs}`.  Chance accuracy is 1/6."
    )
    _write(ACC_BEGIN, ACC_END, table)


def _child(n: int, mode: str, steps: int = 0, epochs: int = 0) -> dict | None:
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(n), mode, str(steps), str(epochs)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "src")},
    )
    if out.returncode:
        print(out.stderr[-2000:], file=sys.stderr)
        return None
    row = json.loads(out.stdout.strip().splitlines()[-1])
    print(row, flush=True)
    return row


def _write(begin: str, end: str, table: str) -> None:
    print(table)
    text = DOC.read_text()
    DOC.write_text(re.sub(f"{re.escape(begin)}.*{re.escape(end)}", f"{begin}\n{table}\n{end}", text, flags=re.S))


def evaluation_table(a: argparse.Namespace) -> None:
    runs = [
        (n, mode)
        for n in map(int, a.eval_sizes.split(","))
        for mode in ("eval-whole", "eval-chunked")
        if mode == "eval-chunked" or n <= a.eval_whole_up_to
    ]
    rows = [row for n, mode in runs if (row := _child(n, mode)) is not None]
    whole = {r["nodes"]: r for r in rows if r["mode"] == "eval-whole"}
    def same(r):
        return (
            f"{abs(r['checksum'] - whole[r['nodes']]['checksum']) / max(abs(whole[r['nodes']]['checksum']), 1):.0e}"
            if r["nodes"] in whole
            else "–"
        )
    table = "\n".join(
        [
            "| nodes | edges | evaluation | peak memory (MB) | seconds | rel. difference of the output sum |",
            "| ---: | ---: | --- | ---: | ---: | ---: |",
        ]
        + [
            f"| {r['nodes']:,} | {r['edges']:,} | {'whole graph' if r['mode'] == 'eval-whole' else 'layer-wise, chunks of 16,384'} | "
            f"{r['peak_mb']:.0f} | {r['seconds']:.1f} | {same(r) if r['mode'] == 'eval-chunked' else ''} |"
            for r in rows
        ]
    ) + (
        f"\n\n2 gated GCN layers of width 16 (eval mode), one thread; `python benchmarks/sampling.py --parts eval --eval-sizes {a.eval_sizes} "
        f"--eval-whole-up-to {a.eval_whole_up_to}`."
    )
    _write(EVAL_BEGIN, EVAL_END, table)


def training_table(a: argparse.Namespace) -> None:
    rows = []
    runs = [(a.accuracy_size, mode, 0, a.accuracy_epochs) for mode in ("full", "sampled")]
    runs += [
        (n, mode, 0 if mode == "full" else a.steps, a.epochs)
        for n in map(int, a.sizes.split(","))
        for mode in ("full", "sampled")
        if mode == "sampled" or n <= a.full_up_to
    ]
    for n, mode, steps, epochs in runs:
        row = _child(n, mode, steps, epochs)
        if row is not None:
            rows.append(row | {"epochs": epochs})
    acc = lambda r, k: f"{r[k]:.3f}" if k in r else "–"  # noqa: E731
    table = "\n".join(
        [
            "| nodes | edges | training | epochs | peak memory of training (MB) | s / epoch | val acc. | test acc. |",
            "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        + [
            f"| {r['nodes']:,} | {r['edges']:,} | {'full batch' if r['mode'] == 'full' else 'sampled 10,5 × 1024 seeds'} | {r['epochs']} | {r['peak_mb']:.0f} | "
            f"{r['s_per_epoch']:.1f} | {acc(r, 'val_accuracy')} | {acc(r, 'test_accuracy')} |"
            for r in rows
        ]
    ) + (
        f"\n\n2 gated GCN layers of width 16, one thread; `python benchmarks/sampling.py --parts train --sizes {a.sizes} --full-up-to {a.full_up_to} "
        f"--steps {a.steps} --epochs {a.epochs} --accuracy-size {a.accuracy_size} --accuracy-epochs {a.accuracy_epochs}`; a sampled "
        f"s / epoch without accuracy is extrapolated from {a.steps} steps.  Chance accuracy is 1/6."
    )
    _write(BEGIN, END, table)


if __name__ == "__main__":
    main()
