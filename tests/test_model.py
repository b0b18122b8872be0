"""The network around the layers: embeddings, blocks, readouts, heads."""

from __future__ import annotations

import pytest
import torch

from gatedgcn import Graph, collate
from gatedgcn.model import LAYERS, GraphNet, ModelSpec

from helpers import random_graph


def graphs(level="graph", categorical=False):
    out = []
    for k, (n, m) in enumerate(((5, 12), (3, 0), (8, 20), (1, 1))):
        ei = random_graph(n, m, seed=k)
        x = torch.randint(0, 4, (n,)) if categorical else torch.randn(n, 3)
        y = {"graph": torch.tensor(k % 2), "node": torch.randint(0, 2, (n,)), "edge": torch.randint(0, 2, (m,))}[level]
        out.append(Graph(x=x, edge_index=ei, edge_attr=torch.rand(m, 2), y=y))
    return out


def spec(layer, level="graph", **kw):
    base = dict(layer=layer, layers=2, hidden=8, out_dim=3, level=level, in_dim=3, edge_in_dim=2, heads=2)
    base.update(kw)
    return ModelSpec(**base)


@pytest.mark.parametrize("layer", LAYERS)
@pytest.mark.parametrize("level", ["graph", "node", "edge"])
@pytest.mark.parametrize("graph_size_norm", [False, True])
def test_batch_gives_the_same_outputs_as_each_graph_alone(layer, level, graph_size_norm):
    model = GraphNet(spec(layer, level, graph_size_norm=graph_size_norm)).double().eval()
    gs = [g.replace(x=g.x.double(), edge_attr=g.edge_attr.double()) for g in graphs(level)]
    together = model(collate(gs))
    alone = torch.cat([model(collate([g])) for g in gs])
    assert together.shape[0] == {"graph": 4, "node": 17, "edge": 33}[level]
    torch.testing.assert_close(together, alone)


@pytest.mark.parametrize("layer", LAYERS)
def test_node_permutation_does_not_change_graph_outputs(layer):
    model = GraphNet(spec(layer, readout="sum")).double().eval()
    g = graphs()[2]
    g = g.replace(x=g.x.double(), edge_attr=g.edge_attr.double())
    perm = torch.randperm(g.num_nodes)
    inverse = torch.argsort(perm)
    h = g.replace(x=g.x[perm], edge_index=inverse[g.edge_index])
    torch.testing.assert_close(model(collate([g])), model(collate([h])))


@pytest.mark.parametrize("readout", ["mean", "sum", "max"])
def test_readouts(readout):
    model = GraphNet(spec("gcn", readout=readout)).double().eval()
    b = collate([g.replace(x=g.x.double(), edge_attr=g.edge_attr.double()) for g in graphs()])
    seen = {}
    model.head.register_forward_pre_hook(lambda m, args: seen.setdefault("pooled", args[0]))
    h = model.embed_h(b.x)
    for block in model.layers:
        h = block(h, block.layer(h, b.edge_index), None)
    model(b)
    rows = [h[b.node_graph == k] for k in range(b.num_graphs)]
    want = torch.stack([{"mean": r.mean(0), "sum": r.sum(0), "max": r.max(0).values}[readout] for r in rows])
    torch.testing.assert_close(seen["pooled"], want)


def test_categorical_node_features_and_training_step():
    model = GraphNet(spec("gated_gcn", in_dim=0, node_vocab=4, edge_in_dim=0))
    b = collate(graphs(categorical=True))
    out = model(b)
    loss = torch.nn.functional.cross_entropy(out, b.y)
    loss.backward()
    unused = [n for n, p in model.named_parameters() if p.grad is None]
    assert unused == ["layers.1.bn_e.weight", "layers.1.bn_e.bias"]  # the last edge state feeds nothing
    assert torch.isfinite(loss)


def test_gated_gcn_parameter_count_is_the_equation():
    s = spec("gated_gcn", layers=3, hidden=8, out_dim=3, in_dim=3, edge_in_dim=2)
    d = 8
    per_layer = 5 * (d * d + d) + 2 * 2 * d  # A..E, two batch norms (weight, bias)
    embed = (3 * d + d) + (2 * d + d)
    head = (d * 4 + 4) + (4 * 2 + 2) + (2 * 3 + 3)  # d -> d/2 -> d/4 -> 3
    assert GraphNet(s).num_parameters() == 3 * per_layer + embed + head


def test_return_weights_are_those_of_the_layers():
    model = GraphNet(spec("gated_gcn")).double().eval()
    b = collate([g.replace(x=g.x.double(), edge_attr=g.edge_attr.double()) for g in graphs()])
    out, weights = model(b, return_weights=True)
    assert len(weights) == 2 and weights[0].shape == (b.num_edges, 8)
    h, e = model.embed_h(b.x), model.embed_e(b.edge_attr)
    _, _, eta = model.layers[0](h, b.edge_index, e, return_weights=True)
    torch.testing.assert_close(weights[0], eta)
    torch.testing.assert_close(out, model(b))


def test_spec_refuses_bad_values():
    with pytest.raises(ValueError, match="layer must be one of"):
        ModelSpec(layer="gin")
    with pytest.raises(ValueError, match="exactly one of in_dim"):
        ModelSpec(in_dim=3, node_vocab=4)


@pytest.mark.parametrize("layer", LAYERS)
@pytest.mark.parametrize("batch_norm", [True, False])
@pytest.mark.parametrize("last_edge_update", [True, False])
def test_unused_parameters_are_those_that_get_no_gradient(layer, batch_norm, last_edge_update):
    """What DDP's ``find_unused_parameters`` is set from: exactly the parameters a backward pass leaves alone."""
    model = GraphNet(spec(layer, batch_norm=batch_norm, last_edge_update=last_edge_update))
    model(collate(graphs())).square().sum().backward()
    untouched = sorted(name for name, p in model.named_parameters() if p.grad is None)
    assert sorted(model.unused_parameters()) == untouched


def test_head_dropout_drops_the_heads_input_in_training_only():
    model = GraphNet(spec("gcn", head_dropout=0.5))
    b = collate(graphs())
    seen = []
    model.head.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach()))
    model.head_drop.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach()))
    torch.manual_seed(0)
    model.train()(b)
    pooled, dropped = seen
    kept = dropped != 0
    assert 0 < int(kept.sum()) < kept.numel()  # some rows' entries dropped, some kept
    torch.testing.assert_close(dropped[kept], 2 * pooled[kept])  # the kept ones scaled by 1 / (1 - p)
    seen.clear()
    model.eval()(b)
    torch.testing.assert_close(seen[1], seen[0])  # eval: the readout itself
