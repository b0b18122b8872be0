"""TSP: k-NN edges against brute force, LKH's tour against the exact optimum of a small instance, edge labels,
F1 of the positive class on a hand-computed case, and a one-epoch run."""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gatedgcn.app.config import Config
from gatedgcn.app.launch import train
from gatedgcn.data.tsp import TSPGraph, knn_edges, lkh_tour
from gatedgcn.train.metrics import f1_positive

from helpers import scores_by_hand


def _length(points: np.ndarray, order) -> float:
    return float(sum(np.linalg.norm(points[a] - points[b]) for a, b in zip(order, list(order[1:]) + [order[0]])))


def test_knn_edges_against_brute_force():
    rng = np.random.default_rng(1)
    points = rng.random((30, 2))
    edges, dist = knn_edges(points, 5)
    assert edges.shape == (2, 150)
    for i in range(30):
        d = [(np.hypot(*(points[i] - points[j])), j) for j in range(30) if j != i]
        nearest = {j for _, j in sorted(d)[:5]}
        senders = set(edges[0][edges[1] == i].tolist())
        assert senders == nearest
    j, i = edges
    assert np.allclose(dist, np.linalg.norm(points[j] - points[i], axis=1))


def test_lkh_tour_is_optimal_on_a_small_instance():
    rng = np.random.default_rng(2)
    points = rng.random((8, 2))
    tour = lkh_tour(points)
    assert sorted(tour.tolist()) == list(range(8))
    best = min(_length(points, (0,) + p) for p in itertools.permutations(range(1, 8)))
    assert _length(points, tour.tolist()) == pytest.approx(best, rel=1e-6)


def test_graph_fields_and_tour_labels():
    g = TSPGraph(min_nodes=20, max_nodes=21)(0, np.random.default_rng(3))  # n = 20 < 26: k = n - 1, complete
    assert g.num_nodes == 20 and g.num_edges == 20 * 19
    assert int(g.y.sum()) == 2 * 20  # each tour edge in both directions
    j, i = g.edge_index
    on = g.y == 1
    assert torch.equal(torch.bincount(i[on], minlength=20), torch.full((20,), 2))  # two tour neighbours each
    assert torch.allclose(g.edge_attr[:, 0], (g.x[j] - g.x[i]).norm(dim=1), atol=1e-6)
    big = TSPGraph(min_nodes=40, max_nodes=41)(0, np.random.default_rng(4))
    assert big.num_edges == 40 * 25
    assert int(big.y.sum()) <= 80 and int(big.y.sum()) > 60  # most tour edges are among the 25 nearest


def test_f1_of_the_positive_class_hand_computed():
    y = torch.tensor([1, 1, 1, 0, 0, 0, 0])
    pred = torch.tensor([1, 1, 0, 1, 0, 0, 0])  # tp 2, fp 1, fn 1 -> 2*2 / (4 + 1 + 1)
    assert f1_positive(F.one_hot(pred, 2).float(), y) == pytest.approx(4 / 6)
    assert f1_positive(F.one_hot(torch.zeros(3, dtype=torch.long), 2).float(), torch.tensor([1, 0, 0])) == 0.0


def test_one_epoch_smoke_run(tmp_path, capsys):
    config = Config().with_overrides(
        [
            "data.name=TSP",
            "data.num_train=3",
            "data.num_val=1",
            "data.num_test=1",
            "data.min_nodes=30",
            "data.max_nodes=40",
            f"data.cache_dir={tmp_path / 'cache'}",
            "model.layers=2",
            "model.hidden=16",
            "model.graph_size_norm=false",
            "train.epochs=1",
            "train.batch_size=2",
        ]
    )
    summary = train(config, tmp_path / "run", progress=False)
    assert summary["metric"] == "f1"
    assert summary["test"]["f1"] == pytest.approx(scores_by_hand(tmp_path / "run", tmp_path / "p.jsonl")["f1"])
    assert "TSP" not in capsys.readouterr().err  # progress=False (--quiet): no generator bar either


def test_a_missing_solver_is_named_before_any_graph_is_drawn(tmp_path, monkeypatch, capsys):
    import importlib.util

    from gatedgcn.cli import main
    from gatedgcn.data import tsp

    real, drawn = importlib.util.find_spec, []
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "elkai" else real(name, *a))
    monkeypatch.setattr(tsp.TSPGraph, "__call__", lambda self, k, rng: drawn.append(k))
    monkeypatch.setenv("GATEDGCN_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["train", "--dataset", "TSP", "--out", str(tmp_path / "run"), "--quiet"]) == 2
    assert "elkai" in capsys.readouterr().err and drawn == []
