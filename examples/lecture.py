"""The lecture, runnable: attention on a set -> GCN on a graph -> gated GCN with edge gates.

    .venv/bin/python examples/lecture.py [--out runs/lecture]      (about a minute on a laptop CPU)

1. Self-attention on a set: every element looks at every other, h = V softmax(β Kᵀ q).  The set
   has no order, so permuting the input permutes the output.  Trained to give every element the
   largest value of its set, attention learns to look at that one element.
2. A graph convolution is attention whose attention vector is given by the graph:
   h = f(U x + V X a d⁻¹), a = the adjacency vector of the receiver.  Two GCN layers split
   Zachary's karate club into its two clubs from two labelled members.
3. The residual gated GCN learns its attention per edge and per channel, η_ij = σ(ê_ij) / Σ_k σ(ê_ik):
   trained on the mini graph set (8 classes of graphs), then its gates are drawn, one graph per class.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import networkx as nx
import torch
from torch import nn

from gatedgcn.app import experiment, from_networkx
from gatedgcn.app.config import Config
from gatedgcn.app.explain import class_examples, explain, gallery
from gatedgcn.nn import GCNLayer, SelfAttention
from gatedgcn.app.plot import save_figure
from gatedgcn.app.predict import load


def attention_on_a_set(steps: int = 300) -> None:
    print("1. self-attention on a set: h = V softmax(β Kᵀ q)")
    torch.manual_seed(0)
    dim = 16
    embed, attend, out = nn.Linear(1, dim), SelfAttention(dim), nn.Linear(dim, 1)
    params = [*embed.parameters(), *attend.parameters(), *out.parameters()]
    opt = torch.optim.Adam(params, lr=1e-2)

    def model(x):  # x: [B, T, 1] -> [B, T]
        h, a = attend(embed(x), return_weights=True)  # [B, T, dim], [B, H, T, T]
        return out(h).squeeze(-1), a

    for step in range(steps):
        x = torch.rand(64, 8, 1)  # 64 sets of 8 numbers
        target = x.amax(dim=1).expand(-1, 8)  # every element should output the set's maximum: [64, 8]
        loss = (model(x)[0] - target).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step in (0, steps - 1):
            print(f"   step {step:>3}: mean |h - max| = {loss.item():.3f}")
    x = torch.rand(1, 8, 1)
    perm = torch.randperm(8)
    with torch.no_grad():
        h, a = model(x)
        h_perm, _ = model(x[:, perm])
    print(f"   permuting the set permutes the output: {torch.allclose(h[:, perm], h_perm, atol=1e-5)}")
    argmax = int(x[0, :, 0].argmax())
    print(
        f"   attention paid to the set's largest element, averaged over the queries: {a[0, 0, :, argmax].mean():.2f} (uniform would be {1 / 8:.2f})"
    )


def gcn_on_a_graph(steps: int = 200) -> None:
    print("2. a GCN on a graph: h = f(U x + V X a d⁻¹), a given by the graph")
    torch.manual_seed(0)
    G = nx.karate_club_graph()
    club = torch.tensor([0 if G.nodes[v]["club"] == "Mr. Hi" else 1 for v in G.nodes])  # [34]
    g = from_networkx(G)
    x = torch.eye(g.num_nodes)  # no features: each member is its own one-hot vector
    layer1, layer2 = GCNLayer(g.num_nodes, 16), GCNLayer(16, 2, activation=None)
    opt = torch.optim.Adam([*layer1.parameters(), *layer2.parameters()], lr=1e-2)
    labelled = torch.tensor([0, 33])  # the instructor and the administrator
    for _ in range(steps):
        logits = layer2(layer1(x, g.edge_index), g.edge_index)  # [34, 2]
        loss = nn.functional.cross_entropy(logits[labelled], club[labelled])
        opt.zero_grad()
        loss.backward()
        opt.step()
    _, a = layer1(x, g.edge_index, return_weights=True)
    accuracy = (logits.argmax(-1) == club).double().mean()
    print(
        f"   the weights a_ij / d_i of member 0's {int(g.in_degree()[0])} neighbours are all {float(a[g.edge_index[1] == 0][0]):.4f}: fixed by the graph"
    )
    print(f"   clubs of all 34 members found from 2 labels: accuracy {accuracy:.2f}")


def gated_gcn_on_the_mini_set(out: Path) -> None:
    print("3. the residual gated GCN: η_ij = σ(ê_ij) / (Σ_k σ(ê_ik) + ε), learned per edge and channel")
    start = time.perf_counter()
    summary = experiment.train(Config(), out, overwrite=True, progress=False)
    print(
        f"   {summary['parameters']:,} parameters, {summary['epochs']} epochs in {time.perf_counter() - start:.0f} s: "
        f"test accuracy {summary['test']['accuracy']:.2f} on the 8 classes"
    )
    run = load(out)
    star = next(g for g in run.dataset.splits["test"] if int(g.y) == 1)
    x = explain(run.model, star, -1, relative=True)  # d_i · mean η_ij: 1 where the gate is the GCN's 1/d_i
    j, i = star.edge_index
    hub = int(torch.bincount(i).argmax())
    into_hub = x.weights[(i == hub) & (j != hub)].mean()
    out_of_hub = x.weights[(j == hub) & (i != hub)].mean()
    print(f"   a star, last layer, d_i · η_ij (the GCN: 1): leaf -> hub {into_hub:.2f}, hub -> leaf {out_of_hub:.2f}")
    examples = [explain(run.model, g, -1, relative=True) for g in class_examples(run.dataset.splits["test"], 8)]
    paths = save_figure(gallery(examples, run.dataset.info["classes"]), out / "gallery", formats=("png",))
    print(f"   d_i · η_ij of the last layer, one graph per class: {paths[0]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/lecture", help="run directory of part 3 (default: runs/lecture)")
    args = parser.parse_args()
    start = time.perf_counter()
    attention_on_a_set()
    gcn_on_a_graph()
    gated_gcn_on_the_mini_set(Path(args.out))
    print(f"done in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
