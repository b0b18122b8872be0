"""SBM PATTERN / CLUSTER: generator statistics against closed-form expectations, structure, determinism,
the class-balanced loss and metric on hand-computed cases, and a one-epoch run."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gatedgcn.app.config import Config
from gatedgcn.app.launch import train
from gatedgcn.data import load_dataset
from gatedgcn.data.sbm import CLUSTER, PATTERN, PATTERN_P, PATTERN_Q, make_patterns
from gatedgcn.train.metrics import weighted_accuracy
from gatedgcn.train.objective import Objective, batch_class_weights

from helpers import scores_by_hand
from tiny_run import CLUSTER_TINY

SAMPLE = 150  # graphs: the tolerance below is 4 standard errors of the sample mean


def _sizes_moments(lo: int = 5, hi: int = 34) -> tuple[float, float]:
    s = np.arange(lo, hi + 1)
    return s.mean(), (s**2).mean()  # E[s], E[s^2] of a community size


def _sbm_expectation(communities: int, p: float, q: float) -> tuple[float, float]:
    """E[nodes], E[undirected edges] of the SBM part."""
    m1, m2 = _sizes_moments()
    nodes = communities * m1
    intra_pairs = communities * (m2 - m1) / 2
    n2 = communities * (m2 - m1**2) + nodes**2  # E[n^2]
    inter_pairs = (n2 - communities * m2) / 2
    return nodes, p * intra_pairs + q * inter_pairs


def _within(values: list[float], expected: float) -> None:
    values = np.asarray(values, dtype=float)
    se = values.std(ddof=1) / np.sqrt(len(values))
    assert abs(values.mean() - expected) < 4 * se + 1e-9, (values.mean(), expected, se)


@pytest.fixture(scope="module")
def pattern():
    return load_dataset("SBM_PATTERN", num_train=SAMPLE, num_val=4, num_test=4, seed=0, cache_dir=None)


@pytest.fixture(scope="module")
def cluster():
    return load_dataset("SBM_CLUSTER", num_train=SAMPLE, num_val=4, num_test=4, seed=0, cache_dir=None)


def test_pattern_statistics_match_the_generator_parameters(pattern):
    graphs = pattern.splits["train"]
    patterns = make_patterns(0)
    sizes = np.array([patterns[k % len(patterns)].size for k in range(len(graphs))])
    sbm_nodes, sbm_edges = _sbm_expectation(PATTERN.communities, PATTERN.p, PATTERN.q)
    _within([g.num_nodes - s for g, s in zip(graphs, sizes)], sbm_nodes)
    # directed edges: SBM part + the pattern's own edges + pattern-graph links (prob 0.5 per pair), both directions
    own = np.array([patterns[k % len(patterns)].edges.shape[1] for k in range(len(graphs))])
    links = [(g.num_edges - e) / 2 for g, e in zip(graphs, own)]
    expected_links = sbm_edges + PATTERN_Q * sbm_nodes * sizes.mean()
    _within(links, expected_links)
    # the pattern's edge probability
    assert abs(own.sum() / (sizes * (sizes - 1)).sum() - PATTERN_P) < 0.03
    # ≈ 117 nodes per graph for the benchmark's sizes (5 communities and a pattern of mean size 19.5)
    assert 100 < np.mean([g.num_nodes for g in graphs]) < 135


def test_pattern_labels_mark_the_pattern_and_graphs_k_and_k_plus_100_share_it(pattern):
    graphs = pattern.splits["train"]
    patterns = make_patterns(0)
    for k in (0, 7, 42):
        a, b = graphs[k], graphs[k + 100]
        P = patterns[k]
        for g in (a, b):
            mask = g.y == 1
            assert int(mask.sum()) == P.size
            assert sorted(g.x[mask].tolist()) == sorted(P.x.tolist())
            j, i = g.edge_index
            assert int((mask[j] & mask[i]).sum()) == P.edges.shape[1]  # the pattern's induced edges, no more
        assert g.x.max() <= 2 and g.x.min() >= 0


def test_cluster_statistics_and_labels(cluster):
    graphs = cluster.splits["train"]
    nodes, edges = _sbm_expectation(CLUSTER.communities, CLUSTER.p, CLUSTER.q)
    _within([g.num_nodes for g in graphs], nodes)
    _within([g.num_edges / 2 for g in graphs], edges)
    intra = inter = intra_pairs = inter_pairs = 0
    for g in graphs:
        j, i = g.edge_index
        same = g.y[j] == g.y[i]
        intra += int(same.sum()) / 2
        inter += int((~same).sum()) / 2
        counts = torch.bincount(g.y, minlength=6).double()
        intra_pairs += float((counts * (counts - 1) / 2).sum())
        inter_pairs += g.num_nodes * (g.num_nodes - 1) / 2 - float((counts * (counts - 1) / 2).sum())
        for r in range(CLUSTER.communities):  # one marked node per community, marked r + 1
            marked = g.x[g.y == r]
            assert sorted(marked.tolist()) == [0] * (len(marked) - 1) + [r + 1]
        assert not bool((g.edge_index[0] == g.edge_index[1]).any())
    assert abs(intra / intra_pairs - CLUSTER.p) < 0.01 and abs(inter / inter_pairs - CLUSTER.q) < 0.01


def test_generation_is_determined_by_the_seed(tmp_path):
    a = load_dataset("SBM_CLUSTER", num_train=3, num_val=1, num_test=1, seed=5, cache_dir=None)
    b = load_dataset("SBM_CLUSTER", num_train=3, num_val=1, num_test=1, seed=5, cache_dir=tmp_path)
    c = load_dataset("SBM_CLUSTER", num_train=3, num_val=1, num_test=1, seed=6, cache_dir=None)
    for split in ("train", "val", "test"):
        for g, h in zip(a.splits[split], b.splits[split]):
            assert torch.equal(g.edge_index, h.edge_index) and torch.equal(g.x, h.x) and torch.equal(g.y, h.y)
    assert (
        not torch.equal(a.splits["train"][0].y, c.splits["train"][0].y)
        or a.splits["train"][0].num_edges != c.splits["train"][0].num_edges
    )
    # more training graphs do not change the first ones (graph k has its own generator)
    d = load_dataset("SBM_CLUSTER", num_train=5, num_val=1, num_test=1, seed=5, cache_dir=None)
    assert torch.equal(d.splits["train"][2].edge_index, a.splits["train"][2].edge_index)
    assert torch.equal(d.splits["val"][0].edge_index, a.splits["val"][0].edge_index)


def test_weighted_accuracy_hand_computed():
    y = torch.tensor([0, 0, 0, 0, 1, 1, 2])
    pred = torch.tensor([0, 0, 0, 1, 1, 0, 1])
    out = F.one_hot(pred, 3).float()
    # recalls: class 0: 3/4, class 1: 1/2, class 2: 0/1 -> mean 5/12 (plain accuracy would be 4/7)
    assert weighted_accuracy(out, y) == pytest.approx(5 / 12)


def test_batch_class_weights_and_weighted_loss_hand_computed():
    y = torch.tensor([0, 0, 0, 1, -1])  # one unlabelled row
    w = batch_class_weights(y, 3)
    assert torch.allclose(w, torch.tensor([1 / 4, 3 / 4, 0.0]))  # (R - R_c) / R, R = 4; class 2 absent
    out = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0], [5.0, 0.0, 0.0]])
    logp = torch.log_softmax(out, -1)
    nll = [-logp[0, 0], -logp[1, 0], -logp[2, 0], -logp[3, 1]]
    weights = [0.25, 0.25, 0.25, 0.75]
    expected = sum(a * b for a, b in zip(weights, nll)) / sum(weights)
    loss = Objective("classification", "weighted_accuracy", balance_batches=True).loss(out, y)
    assert float(loss) == pytest.approx(float(expected), rel=1e-6)
    # a batch of one class: weight 1, a finite loss
    assert torch.allclose(batch_class_weights(torch.tensor([1, 1]), 2), torch.tensor([0.0, 1.0]))


@pytest.mark.parametrize("name", ["SBM_PATTERN", "SBM_CLUSTER"])
def test_one_epoch_smoke_run(tmp_path, name):
    config = Config().with_overrides(
        [
            f"data.name={name}",
            "data.num_train=6",
            "data.num_val=2",
            "data.num_test=2",
            f"data.cache_dir={tmp_path / 'cache'}",
            "model.layers=2",
            "model.hidden=16",
            "model.graph_size_norm=false",
            "train.epochs=1",
            "train.batch_size=3",
        ]
    )
    summary = train(config, tmp_path / "run", progress=False)
    assert summary["metric"] == "weighted_accuracy"
    by_hand = scores_by_hand(tmp_path / "run", tmp_path / "p.jsonl")["weighted_accuracy"]
    assert summary["test"]["weighted_accuracy"] == pytest.approx(by_hand) and np.isfinite(summary["train"]["loss"])


@pytest.mark.parametrize("quiet", [False, True])
def test_the_generators_progress_bar_obeys_quiet(tmp_path, capsys, monkeypatch, quiet):
    import sys

    from gatedgcn.cli import main

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # a terminal: bars are drawn there only

    args = ["train", *CLUSTER_TINY, "--out", str(tmp_path / "run"), "--set", f"data.cache_dir={tmp_path / 'cache'}"]
    assert main(args + ["--quiet"] * quiet) == 0
    err = capsys.readouterr().err
    assert ("SBM_CLUSTER" in err) is not quiet  # the bar is named after the dataset; --quiet: no bar at all
    if quiet:
        assert err == ""


# ----------------------------------------------------------------------------- generation in worker processes

_WORKERS_SCRIPT = """
import hashlib, json, os, resource, signal, sys
from gatedgcn.data.parallel import generate
from gatedgcn.data.sbm import ClusterGraph
from gatedgcn.errors import DataError


class DiesAtGraph5(ClusterGraph):
    def __call__(self, k, rng):
        if k == 5:
            os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer would
        return super().__call__(k, rng)


def digest(splits):
    h = hashlib.sha256()
    for g in splits["train"]:
        for t in (g.x, g.edge_index, g.y):
            h.update(t.numpy().tobytes())
    return h.hexdigest()


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_NOFILE, (128, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    counts = {"train": 300}
    two = generate(ClusterGraph(), counts, seed=1, workers=2, progress=False)
    one = generate(ClusterGraph(), counts, seed=1, workers=1, progress=False)
    print(json.dumps({"graphs": len(two["train"]), "same": digest(one) == digest(two)}), flush=True)
    try:
        generate(DiesAtGraph5(), {"train": 200}, seed=1, workers=2, desc="SBM_CLUSTER", progress=False)
        print(json.dumps({"died": None}))
    except DataError as err:
        print(json.dumps({"died": str(err)}))
"""


@pytest.fixture(scope="module")
def worker_runs(tmp_path_factory):
    """The script above in its own process, with 128 file descriptors; killed if it hangs."""
    script = tmp_path_factory.mktemp("workers") / "generate.py"
    script.write_text(_WORKERS_SCRIPT)
    try:
        done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=240)
    except subprocess.TimeoutExpired:
        pytest.fail("generation with 2 workers hung (killed after 240 s)")
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0 and len(lines) == 2, done.stderr[-3000:]
    return lines


def test_two_workers_generate_300_graphs_with_128_file_descriptors_as_one_process_does(worker_runs):
    assert worker_runs[0] == {"graphs": 300, "same": True}


def test_a_worker_killed_during_generation_ends_in_our_error_not_a_hang(worker_runs):
    message = worker_runs[1]["died"]
    assert message is not None and "SBM_CLUSTER" in message and "worker process died" in message
