"""CSL: each graph is its class's circulant graph relabelled; the 5 folds; a one-epoch run with Laplacian PE."""

import json

import networkx as nx
import numpy as np
import pytest
import torch

from gatedgcn.app.config import Config
from gatedgcn.data import load_dataset
from gatedgcn.data.csl import NODES, SKIPS, csl_graph
from gatedgcn.model import GraphNet, ModelSpec

from helpers import scores_by_hand


def _nx(g) -> nx.Graph:
    G = nx.Graph()
    G.add_nodes_from(range(g.num_nodes))
    G.add_edges_from(g.edge_index.t().tolist())
    return G


def _circulant(skip: int) -> nx.Graph:
    G = nx.cycle_graph(NODES)
    G.add_edges_from((u, (u + skip) % NODES) for u in range(NODES))
    return G


def test_each_graph_is_its_class_circulant_and_not_another():
    rng = np.random.default_rng(0)
    for label in (0, 4, 9):
        g = csl_graph(label, rng)
        assert g.num_nodes == 41 and g.num_edges == 4 * 41
        assert torch.equal(g.in_degree(), torch.full((41,), 4))
        assert int(g.y) == label
        assert nx.is_isomorphic(_nx(g), _circulant(SKIPS[label]))
        assert not nx.is_isomorphic(_nx(g), _circulant(SKIPS[(label + 1) % len(SKIPS)]))
    a, b = csl_graph(3, rng), csl_graph(3, rng)
    assert not torch.equal(a.edge_index, b.edge_index)  # relabelled differently


def test_five_folds_partition_the_150_graphs():
    tests = []
    for fold in range(5):
        d = load_dataset("CSL", seed=0, folds=0, fold=fold)
        sizes = {k: len(v) for k, v in d.splits.items()}
        assert sizes == {"train": 90, "val": 30, "test": 30}
        labels = torch.stack([g.y for g in d.splits["test"]])
        assert torch.equal(torch.bincount(labels, minlength=10), torch.full((10,), 3))  # stratified
        names = [id(g) for g in d.splits["test"]]
        tests.append({(int(g.y), tuple(g.edge_index[:, :4].flatten().tolist())) for g in d.splits["test"]})
        assert len(names) == 30
    union = set().union(*tests)
    assert len(union) == 150  # the test folds are disjoint and cover every graph
    again = load_dataset("CSL", seed=0, folds=0, fold=2)
    first = load_dataset("CSL", seed=0, folds=0, fold=2)
    assert all(torch.equal(g.edge_index, h.edge_index) for g, h in zip(again.splits["train"], first.splits["train"]))


def test_one_epoch_smoke_run_from_the_cli_with_laplacian_pe(tmp_path, capsys):
    from gatedgcn.cli import main

    argv = [
        "train",
        "--dataset",
        "CSL",
        "--pe",
        "laplacian",
        "--pe-dim",
        "20",
        "--layers",
        "2",
        "--hidden",
        "16",
        "--readout",
        "mean",
        "--no-graph-size-norm",
        "--epochs",
        "1",
        "--batch-size",
        "10",
        "--quiet",
        "--json",
        "--out",
        str(tmp_path / "run"),
    ]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["metric"] == "accuracy"
    assert summary["test"]["accuracy"] == pytest.approx(
        scores_by_hand(tmp_path / "run", tmp_path / "p.jsonl")["accuracy"]
    )
    config = Config.load(tmp_path / "run" / "config.yaml")
    assert (config.data.pe, config.data.pe_dim) == ("laplacian", 20)
    plain = GraphNet(
        ModelSpec(layer="gated_gcn", layers=2, hidden=16, out_dim=10, in_dim=0, node_vocab=1, last_edge_update=False)
    ).num_parameters()
    assert summary["parameters"] == plain + 20 * 16 + 16  # + the PE embedding Linear(20, 16)


def test_csl_rp_relabels_as_the_benchmarks_file():
    """Murphy et al.'s deterministic permutations, by hand: the identity, then lexicographic order, skipping a
    permutation whose adjacency is already there."""
    from gatedgcn.data.csl import lexicographic_relabellings

    perms = lexicographic_relabellings(0)
    head = list(range(NODES - 3))
    # the next permutations of the last three ids, in lexicographic order, each a new adjacency of the 2-skip graph
    assert [p.tolist() for p in perms[:4]] == [
        head + [38, 39, 40],
        head + [38, 40, 39],
        head + [39, 38, 40],
        head + [39, 40, 38],
    ]
    assert len(perms) == 15 and all(sorted(p.tolist()) == list(range(NODES)) for p in perms)
    assert all((p[: NODES - 5] == np.arange(NODES - 5)).all() for p in perms)  # only the last ids move
    d = load_dataset("CSL_RP", seed=0, folds=0, fold=1)
    graphs = [g for split in d.splits.values() for g in split]
    assert d.name == "CSL_RP" and len(graphs) == 150
    for label in (0, 9):
        mine = [g for g in graphs if int(g.y) == label]
        assert len(mine) == 15
        edge_sets = {frozenset(map(tuple, g.edge_index.t().tolist())) for g in mine}
        assert len(edge_sets) == 15  # 15 different labelled graphs ...
        assert all(nx.is_isomorphic(_nx(g), _circulant(SKIPS[label])) for g in mine)  # ... of one class
    unpermuted = {frozenset(map(tuple, g.edge_index.t().tolist())) for g in graphs if int(g.y) == 3}
    ring = _circulant(SKIPS[3])
    assert frozenset([(u, v) for u, v in ring.edges()] + [(v, u) for u, v in ring.edges()]) in unpermuted
