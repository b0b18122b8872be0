"""Neighbour sampling: the sampled subgraphs hold only real edges, respect the fan-outs, cover the seeds
once per epoch, and with full fan-outs give the seeds the outputs of the whole graph."""

from __future__ import annotations

import json

import pytest
import torch

from gatedgcn.data.sampling import NeighbourSampler
from gatedgcn.graph import Graph, collate
from gatedgcn.model import GraphNet, ModelSpec
from gatedgcn.train.metrics import UNLABELLED

from helpers import needs_shared, random_graph, scores_by_hand
from tiny_run import argv


def _graph(n: int = 60, m: int = 400, seed: int = 0) -> Graph:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    y[torch.randperm(n, generator=g)[: n // 3]] = UNLABELLED  # a third of the nodes are outside the split
    return Graph(
        x=torch.randn(n, 2, generator=g, dtype=torch.float64),
        edge_index=random_graph(n, m, seed=seed),
        edge_attr=torch.randn(m, 1, generator=g, dtype=torch.float64),
        y=y,
    )


def test_batches_hold_real_edges_respect_the_fanouts_and_cover_each_seed_once():
    graph = _graph()
    real = {(j, i): k for k, (j, i) in enumerate(graph.edge_index.t().tolist())}
    deg = torch.bincount(graph.edge_index[1], minlength=graph.num_nodes)
    sampler = NeighbourSampler(graph, [3, 2], batch_size=8, seed=1)
    seen_seeds = []
    for batch in sampler:
        nodes_ids = torch.full((batch.num_nodes,), -1)
        S = int((batch.y != UNLABELLED).sum())
        # which global node is each local node: the features identify them (random float64 rows)
        for local in range(batch.num_nodes):
            nodes_ids[local] = int((graph.x == batch.x[local]).all(1).nonzero()[0, 0])
        assert len(set(nodes_ids.tolist())) == batch.num_nodes  # every node once
        seeds = nodes_ids[:S]
        assert (
            (graph.y[seeds] == batch.y[:S]).all()
            and (graph.y[seeds] != UNLABELLED).all()
            and (batch.y[S:] == UNLABELLED).all()
        )
        seen_seeds += seeds.tolist()
        j, i = nodes_ids[batch.edge_index[0]], nodes_ids[batch.edge_index[1]]
        for k, (a, b) in enumerate(zip(j.tolist(), i.tolist())):
            assert (a, b) in real and torch.equal(
                batch.edge_attr[k], graph.edge_attr[real[(a, b)]]
            )  # a real edge, its own features
        received = torch.bincount(batch.edge_index[1], minlength=batch.num_nodes)  # [n]
        hop1 = set(j[torch.isin(i, seeds)].tolist()) - set(seeds.tolist())
        for local, v in enumerate(nodes_ids.tolist()):
            fanout = 3 if local < S else 2 if v in hop1 else 0
            expected_max = min(int(deg[v]), fanout)
            assert received[local] <= expected_max and (int(deg[v]) > fanout or received[local] == expected_max)
    assert sorted(seen_seeds) == sorted((graph.y != UNLABELLED).nonzero().flatten().tolist())


@pytest.mark.parametrize(
    "layer, grouped", [("gated_gcn", False), ("gcn", False), ("graph_attention", False), ("gated_gcn", True)]
)
def test_with_full_fanouts_the_seeds_get_the_outputs_of_the_whole_graph(layer, grouped):
    graph = _graph(n=40, m=160, seed=2)
    if grouped:  # edges already grouped by receiver: the sampler indexes them without a sort
        order = torch.argsort(graph.edge_index[1], stable=True)  # [E]
        graph = Graph(x=graph.x, edge_index=graph.edge_index[:, order], edge_attr=graph.edge_attr[order], y=graph.y)
    spec = ModelSpec(
        layer=layer, layers=2, hidden=8, out_dim=3, level="node", in_dim=2, edge_in_dim=1, graph_size_norm=False
    )
    torch.manual_seed(0)
    model = GraphNet(spec).double().eval()
    full = model(collate([graph]))  # [N, 3]
    most = int(torch.bincount(graph.edge_index[1]).max())
    sampler = NeighbourSampler(graph, [most, most], batch_size=7, seed=3)
    covered = 0
    with torch.no_grad():
        for batch in sampler:
            S = int((batch.y != UNLABELLED).sum())
            ids = torch.tensor([int((graph.x == row).all(1).nonzero()[0, 0]) for row in batch.x[:S]])
            torch.testing.assert_close(model(batch)[:S], full[ids], rtol=1e-12, atol=1e-12)
            covered += S
    assert covered == int((graph.y != UNLABELLED).sum())


@needs_shared("planetoid")
def test_train_with_fanout_on_one_big_graph_and_refused_on_a_set_of_graphs(tmp_path, capsys):
    from gatedgcn.cli import main

    common = argv(quiet=True, hidden=8, layers=2, epochs=1, batch_size=256, fanout="5,3", no_graph_size_norm=True)
    assert main(["train", "--dataset", "cora", "--model", "gcn", "--out", str(tmp_path / "cora"), *common]) == 0
    summary = json.loads((tmp_path / "cora" / "summary.json").read_text())
    by_hand = scores_by_hand(tmp_path / "cora", tmp_path / "p.jsonl")  # the whole graph, the 1,000 test nodes
    assert summary["test"]["accuracy"] == pytest.approx(by_hand["accuracy"])
    assert main(["train", "--out", str(tmp_path / "mini"), *common]) == 2
    assert "train.fanout samples one big graph" in capsys.readouterr().err
