"""Layer-wise inference in chunks equals the whole-graph forward in eval mode (float64), for every layer it
serves, with edge features, graph-size norm, batch norm with non-trivial running statistics, self-loops, nodes
without senders and chunks of every size; what it cannot serve is refused by name."""

from __future__ import annotations

import pytest
import torch

from gatedgcn import Graph, collate
from gatedgcn.data.sampling import by_receiver
from gatedgcn.errors import GatedGCNError
from gatedgcn.layerwise import layerwise
from gatedgcn.model import GraphNet, ModelSpec
from gatedgcn.nn import BatchNorm

from helpers import needs_shared, random_graph


def _batch(seed: int = 0):
    """Two graphs (so that the size scales differ per graph), nodes 0 and 29 of the first without senders."""
    g = torch.Generator().manual_seed(seed)
    graphs = []
    for n, m in ((30, 140), (17, 60)):
        edge_index = random_graph(n, m, seed=seed + n)
        if n == 30:
            edge_index = edge_index[:, (edge_index[1] != 0) & (edge_index[1] != 29)]
        graphs.append(
            Graph(
                x=torch.randn(n, 3, generator=g, dtype=torch.float64),
                edge_index=edge_index,
                edge_attr=torch.randn(edge_index.shape[1], 2, generator=g, dtype=torch.float64),
                y=torch.zeros(n, dtype=torch.long),
            )
        )
    return collate(graphs)


def _model(**kw) -> GraphNet:
    spec = dict(
        layer="gated_gcn",
        layers=3,
        hidden=8,
        out_dim=4,
        level="node",
        in_dim=3,
        edge_in_dim=2,
        graph_size_norm=True,
        impl="reference",
    )
    torch.manual_seed(1)
    model = GraphNet(ModelSpec(**(spec | kw))).double()
    g = torch.Generator().manual_seed(2)
    for bn in (m for m in model.modules() if isinstance(m, BatchNorm)):  # running statistics far from 0 / 1
        bn.running_mean.copy_(torch.randn(bn.num_features, generator=g, dtype=torch.float64))
        bn.running_var.copy_(torch.rand(bn.num_features, generator=g, dtype=torch.float64) + 0.5)
        bn.weight.data.copy_(torch.randn(bn.num_features, generator=g, dtype=torch.float64))
    return model.eval()


CASES = {
    "gated_gcn": {},
    "gated_gcn, no edge features, no size norm": {"edge_in_dim": 0, "graph_size_norm": False},
    "gcn": {"layer": "gcn", "edge_in_dim": 0},
    "gcn, self-loops, no U": {"layer": "gcn", "edge_in_dim": 0, "self_loops": True, "gcn_self_weight": False},
    "graph_attention, 2 heads, self-loops": {
        "layer": "graph_attention",
        "edge_in_dim": 0,
        "heads": 2,
        "self_loops": True,
    },
    "mlp": {"layer": "mlp", "edge_in_dim": 0},
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("chunk", [1, 7, 1000])
def test_layerwise_in_chunks_equals_the_whole_graph_forward(case, chunk):
    model, batch = _model(**CASES[case]), _batch()
    with torch.no_grad():
        whole = model(batch)  # [N, 4]
    torch.testing.assert_close(layerwise(model, batch, chunk), whole, rtol=0, atol=1e-12)
    assert not torch.allclose(whole[0], whole[1])  # the outputs differ by node: a wrong row would show


def test_edges_already_grouped_by_receiver_take_the_path_without_a_sort():
    model, batch = _model(), _batch()
    order = torch.argsort(batch.edge_index[1], stable=True)  # [E]
    grouped = collate(
        [Graph(x=batch.x, edge_index=batch.edge_index[:, order], edge_attr=batch.edge_attr[order], y=batch.y)]
    )
    assert by_receiver(grouped.edge_index, grouped.num_nodes)[0] is None
    with torch.no_grad():
        whole = model(batch)  # [N, 4]: graph-size norm of one graph now, not two
        whole_grouped = model(grouped)
    torch.testing.assert_close(layerwise(model, grouped, 6), whole_grouped, rtol=0, atol=1e-12)
    assert not torch.allclose(whole, whole_grouped)


def test_the_chunked_result_reads_the_edge_features():
    model, batch = _model(), _batch()
    other = collate([Graph(x=batch.x, edge_index=batch.edge_index, edge_attr=batch.edge_attr * 2, y=batch.y)])
    assert not torch.allclose(layerwise(model, batch, 5), layerwise(model, other, 5))


@pytest.mark.parametrize(
    "kw, words",
    [
        ({"layer": "attention", "edge_in_dim": 0}, "dense attention"),
        ({"layer": "gcn", "edge_in_dim": 0, "gcn_norm": "symmetric"}, "gcn_norm=mean"),
        ({"level": "graph"}, "graph level"),
    ],
)
def test_what_cannot_be_done_in_chunks_is_refused_by_name(kw, words):
    with pytest.raises(GatedGCNError, match=words):
        layerwise(_model(**kw), _batch(), 4)


def test_training_mode_and_a_bad_chunk_are_refused():
    model = _model()
    with pytest.raises(GatedGCNError, match="eval mode"):
        layerwise(model.train(), _batch(), 4)
    with pytest.raises(GatedGCNError, match="chunk must be >= 1"):
        layerwise(model.eval(), _batch(), 0)


def _cora(*sets: str):
    from gatedgcn.app.config import Config
    from gatedgcn.app.experiment import Experiment

    base = [
        "data.name=cora",
        "model.layers=2",
        "model.hidden=8",
        'train.fanout="5,3"',
        "train.dtype=float64",
        "model.impl=reference",
    ]
    return Experiment.build(Config().with_overrides(base + list(sets)))


@needs_shared("planetoid")
def test_sampled_training_evaluates_in_chunks_as_the_whole_graph_forward_would():
    from gatedgcn.train.trainer import Schedule, Trainer

    exp = _cora("train.inference_chunk=500")  # 2,708 nodes: 6 chunks
    layered = exp.trainer(progress=False)
    assert layered.predict is not None
    whole = Trainer(exp.model, exp.objective, Schedule(), progress=False)
    a, b = layered.evaluate(exp.eval_loaders()), whole.evaluate(exp.eval_loaders())
    for split in ("val", "test"):
        assert abs(a[split]["loss"] - b[split]["loss"]) < 1e-12 and a[split]["accuracy"] == b[split]["accuracy"]
    assert (
        _cora("model.layer=gcn", 'model.gcn_norm="symmetric"').trainer(progress=False).predict is None
    )  # with --fanout alone: whole graph


@needs_shared("planetoid")
def test_an_inference_chunk_the_model_cannot_use_is_a_config_error():
    from gatedgcn.errors import ConfigError

    with pytest.raises(ConfigError, match="train.inference_chunk: .*gcn_norm=mean"):
        _cora("model.layer=gcn", 'model.gcn_norm="symmetric"', "train.inference_chunk=100").trainer(progress=False)


def test_the_splits_of_one_graph_are_scored_from_one_layerwise_computation(monkeypatch):
    from gatedgcn import layerwise as inference
    from gatedgcn.data.splits import mask_labels
    from gatedgcn.train.objective import Objective
    from gatedgcn.train.trainer import Schedule, Trainer

    n = 60
    g = torch.Generator().manual_seed(3)
    edge_index = random_graph(n, 300, seed=4)
    graph = Graph(
        x=torch.randn(n, 3, generator=g, dtype=torch.float64),
        edge_index=edge_index,
        edge_attr=torch.randn(edge_index.shape[1], 2, generator=g, dtype=torch.float64),
        y=torch.randint(0, 4, (n,), generator=g),
    )
    nodes = torch.randperm(n, generator=g).numpy()
    loaders = {
        name: [collate([mask_labels(graph, nodes[a:b])])]
        for name, a, b in (("train", 0, 20), ("val", 20, 40), ("test", 40, 60))
    }
    model, objective = _model(), Objective("classification", "accuracy")
    calls = []

    def counted(*args, **kw):
        calls.append(1)
        return layerwise(*args, **kw)

    monkeypatch.setattr(inference, "layerwise", counted)

    def two_pass():  # one layer-wise computation per split, as before; and the plain forward
        split_by_split = Trainer(
            model, objective, Schedule(), progress=False, predict=lambda m, b: layerwise(m, b, 7)
        ).evaluate(loaders)
        whole = Trainer(model, objective, Schedule(), progress=False).evaluate(loaders)
        for name in loaders:
            assert abs(split_by_split[name]["loss"] - whole[name]["loss"]) < 1e-12
        return split_by_split

    once = Trainer(model, objective, Schedule(), progress=False, predict=inference.Layerwise(7))
    first = once.evaluate(loaders)
    assert len(calls) == 1 and first == two_pass()
    assert len({first[name]["loss"] for name in loaders}) == 3  # the splits are scored on their own targets
    with torch.no_grad():
        model.head.out.weight.mul_(-2.0)  # an update in place: the next evaluation computes anew
    second = once.evaluate(loaders)
    assert len(calls) == 2 and second == two_pass() and second != first
    once.evaluate(
        {"val": [collate([mask_labels(graph.replace(x=graph.x + 1), nodes[20:40])])]}
    )  # other inputs: computed anew
    assert len(calls) == 3
