"""Memory and time of neighbour-sampled training on one big generated SBM graph, against full-batch training.

    python benchmarks/sampling.py [--sizes 100000,500000,2000000] [--full-up-to 100000] [--steps 40]

The graph: ``N`` nodes in 6 communities, each node receives ``D = 20`` edges, from its own community
with probability 0.7 and from anywhere otherwise; features = one-hot community + N(0, 1) noise;
target = community; 20 % of the nodes label the training split, 10 % validation, 10 % test.  Model:
2 gated GCN layers of width 16.  Every (size, mode) runs in its own process; peak memory is the
process's peak RSS minus its RSS once the graph is built (so the graph's own storage is not counted).
Sampled: ``--fanout 10,5``, 1024 seeds a step; its time per epoch is extrapolated from ``--steps`` steps.
Writes the table to docs/distributed.md (between the markers) and prints it.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "distributed.md"
BEGIN, END = "<!-- sampling-table:begin -->", "<!-- sampling-table:end -->"
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
    model = GraphNet(ModelSpec(layer="gated_gcn", layers=2, hidden=HIDDEN, out_dim=C, level="node", in_dim=C, graph_size_norm=False))
    trainer = Trainer(model, Objective("classification", "accuracy"), Schedule(epochs=epochs, lr=1e-2), progress=False)
    start = time.perf_counter()
    trainer.fit(loader, {})
    seconds = (time.perf_counter() - start) / epochs
    row = {"nodes": n, "edges": train.num_edges, "mode": mode, "peak_mb": status_mb("VmHWM") - base,
           "s_per_epoch": seconds * (per_epoch_steps / steps if mode == "sampled" and steps else 1)}
    if steps == 0 or mode == "full":
        row |= {f"{name}_accuracy": trainer.evaluate({name: [collate([g])]})[name]["accuracy"] for name, g in (("val", val), ("test", test))}
    return row


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
    p.add_argument("--steps", type=int, default=40, help="sampled steps timed per size (0: whole epochs, with accuracy)")
    p.add_argument("--epochs", type=int, default=1, help="epochs of the runs that measure memory and time")
    p.add_argument("--accuracy-size", type=int, default=20000, help="nodes of the graph on which both modes are trained for accuracy")
    p.add_argument("--accuracy-epochs", type=int, default=20)
    p.add_argument("--child", nargs=4, metavar=("N", "MODE", "STEPS", "EPOCHS"), help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        print(json.dumps(one(int(a.child[0]), a.child[1], int(a.child[2]), int(a.child[3]))))
        return
    rows = []
    runs = [(a.accuracy_size, mode, 0, a.accuracy_epochs) for mode in ("full", "sampled")]
    runs += [(n, mode, 0 if mode == "full" else a.steps, a.epochs) for n in map(int, a.sizes.split(",")) for mode in ("full", "sampled") if mode == "sampled" or n <= a.full_up_to]
    for n, mode, steps, epochs in runs:
        out = subprocess.run([sys.executable, __file__, "--child", str(n), mode, str(steps), str(epochs)], capture_output=True, text=True,
                             cwd=ROOT, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "src")})
        if out.returncode:
            print(out.stderr[-2000:], file=sys.stderr)
            continue
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]) | {"epochs": epochs})
        print(rows[-1], flush=True)
    acc = lambda r, k: f"{r[k]:.3f}" if k in r else "–"  # noqa: E731
    table = "\n".join(
        ["| nodes | edges | training | epochs | peak memory of training (MB) | s / epoch | val acc. | test acc. |", "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
        + [f"| {r['nodes']:,} | {r['edges']:,} | {'full batch' if r['mode'] == 'full' else 'sampled 10,5 × 1024 seeds'} | {r['epochs']} | {r['peak_mb']:.0f} | "
           f"{r['s_per_epoch']:.1f} | {acc(r, 'val_accuracy')} | {acc(r, 'test_accuracy')} |" for r in rows]
    ) + (f"\n\n2 gated GCN layers of width 16, one thread; `python benchmarks/sampling.py --sizes {a.sizes} --full-up-to {a.full_up_to} "
         f"--steps {a.steps} --epochs {a.epochs} --accuracy-size {a.accuracy_size} --accuracy-epochs {a.accuracy_epochs}`; a sampled "
         f"s / epoch without accuracy is extrapolated from {a.steps} steps.  Chance accuracy is 1/6.")
    print(table)
    text = DOC.read_text()
    DOC.write_text(re.sub(f"{re.escape(BEGIN)}.*{re.escape(END)}", f"{BEGIN}\n{table}\n{END}", text, flags=re.S))


if __name__ == "__main__":
    main()
