"""The model options of a semi-supervised node task (Cora): input dropout, the head's depth,
self-loops, and a GCN without its separate self weight U — each against a dense float64 formula
or a hand-counted figure."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from gatedgcn import Graph, collate
from gatedgcn.app.config import Config
from gatedgcn.app.experiment import model_spec
from gatedgcn.data.dataset import Dataset, Task
from gatedgcn.errors import ConfigError
from gatedgcn.model import GraphNet, ModelSpec
from gatedgcn.nn import GCNLayer

from dense import adjacency, linear
from helpers import compare_with_grads, random_graph

CORA_PRESETS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("cora_*.yaml"))


def node_batch(n=7, m=15, in_dim=5, seed=0):
    x = (
        torch.rand(n, in_dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) + 0.5
    )  # no zero feature
    return collate([Graph(x=x, edge_index=random_graph(n, m, seed=seed), y=torch.zeros(n, dtype=torch.long))])


def node_spec(**kw):
    base = dict(layer="gcn", layers=1, hidden=8, out_dim=3, level="node", in_dim=5, batch_norm=False, residual=False)
    base.update(kw)
    return ModelSpec(**base)


def embedded_inputs(model, batch):
    """What the embedding receives in one forward pass (read through a hook)."""
    seen = []
    handle = model.embed_h.register_forward_hook(lambda module, args, out: seen.append(args[0].detach().clone()))
    model(batch)
    handle.remove()
    return seen[0]


def test_input_dropout_zeroes_raw_features_in_training_only():
    torch.manual_seed(0)
    model = GraphNet(node_spec(input_dropout=0.5)).double()
    batch = node_batch(n=40)
    seen = embedded_inputs(model.train(), batch)
    kept = seen != 0
    assert 0.3 < kept.double().mean() < 0.7  # about half of the 200 features dropped
    torch.testing.assert_close(seen[kept], 2.0 * batch.x[kept])  # the kept ones scaled by 1 / (1 - p)
    torch.testing.assert_close(embedded_inputs(model.eval(), batch), batch.x)  # evaluation: untouched
    plain = GraphNet(node_spec()).double().eval()
    plain.load_state_dict(model.state_dict())  # no weights of its own
    torch.testing.assert_close(model(batch), plain(batch))


@pytest.mark.parametrize(
    "k, extra",
    [(0, 0), (1, 16 * 8 + 8 + 8 * 3 + 3 - (16 * 3 + 3)), (2, 16 * 8 + 8 + 8 * 4 + 4 + 4 * 3 + 3 - (16 * 3 + 3))],
)
def test_head_layers_halve_the_width_k_times(k, extra):
    base = GraphNet(node_spec(hidden=16, head_layers=0)).num_parameters()
    model = GraphNet(node_spec(hidden=16, head_layers=k))
    assert model.num_parameters() - base == extra
    assert [lin.out_features for lin in model.head.hidden] == [16 // 2**t for t in range(1, k + 1)]


def test_head_layers_0_is_one_linear_map_of_the_last_state():
    model = GraphNet(node_spec(head_layers=0)).double().eval()
    batch = node_batch()
    layer = model.layers[0].layer
    h0 = linear(batch.x, model.embed_h)
    adj = adjacency(batch.edge_index, batch.num_nodes)
    h = torch.relu(linear(h0, layer.U) + adj / adj.sum(1, keepdim=True).clamp(min=1) @ linear(h0, layer.V))  # mean GCN
    torch.testing.assert_close(model(batch), linear(h, model.head.out))


@pytest.mark.parametrize("self_weight", [True, False])
def test_self_loops_give_kipf_welling_propagation(self_weight):
    model = (
        GraphNet(node_spec(self_loops=True, gcn_norm="symmetric", gcn_self_weight=self_weight, head_layers=0))
        .double()
        .eval()
    )
    batch = node_batch()
    x = batch.x.clone().requires_grad_()
    layer = model.layers[0].layer
    n = batch.num_nodes
    adj = adjacency(batch.edge_index, n) + torch.eye(n, dtype=torch.float64)  # A + I
    d = adj.sum(1)
    prop = adj / torch.sqrt(d[:, None] * d[None, :])  # D^-1/2 (A + I) D^-1/2

    def dense():
        h0 = linear(x, model.embed_h)
        m = prop @ linear(h0, layer.V)
        return linear(torch.relu(m + linear(h0, layer.U) if self_weight else m), model.head.out)

    compare_with_grads(lambda: model(dataclasses.replace(batch, x=x)), dense, [x], list(model.parameters()))


def test_gcn_without_self_weight_has_only_V():
    layer = GCNLayer(5, 4, self_weight=False, norm="mean").double()
    assert layer.U is None and sum(p.numel() for p in layer.parameters()) == 5 * 4 + 4
    batch = node_batch()
    x = batch.x.clone().requires_grad_()
    adj = adjacency(batch.edge_index, batch.num_nodes)
    prop = adj / adj.sum(1, keepdim=True).clamp(min=1)
    compare_with_grads(
        lambda: layer(x, batch.edge_index), lambda: torch.relu(prop @ linear(x, layer.V)), [x], list(layer.parameters())
    )


def test_defaults_leave_the_model_as_before():
    spec = ModelSpec()
    assert (spec.input_dropout, spec.head_layers, spec.self_loops, spec.gcn_self_weight) == (0.0, 2, False, True)
    assert Config().model.head_layers == 2 and not Config().model.self_loops


@pytest.mark.parametrize(
    "assignment, words",
    [
        ("model.input_dropout=1.0", "model.input_dropout"),
        ("model.head_layers=-1", "model.head_layers"),
        ("model.self_loops=true", "model.self_loops"),  # the default layer is gated_gcn
        ("model.gcn_self_weight=false", "model.gcn_self_weight"),
    ],
)
def test_bad_option_is_a_config_error_naming_the_key(assignment, words):
    with pytest.raises(ConfigError, match=words):
        Config().with_overrides([assignment])


def test_input_dropout_on_category_ids_is_refused():
    config = Config().with_overrides(["model.input_dropout=0.5"])
    data = Dataset(name="mini", splits={}, task=Task("graph", "classification", 2, "accuracy"), node_vocab=4)
    with pytest.raises(ConfigError, match="input_dropout"):
        model_spec(config, data)


@pytest.mark.parametrize("path", CORA_PRESETS, ids=[p.stem for p in CORA_PRESETS])
def test_cora_presets_load_and_use_the_node_options(path):
    config = Config.load(path)
    assert config.data.name == "cora" and config.model.input_dropout > 0 and config.model.head_layers == 0
    data = Dataset(name="cora", splits={}, task=Task("node", "classification", 7, "accuracy"), in_dim=1433)
    model = GraphNet(model_spec(config, data))
    if path.stem == "cora_gcn":  # embedding 1433 -> 64, two layers V only (64 -> 64), one Linear head 64 -> 7
        assert model.num_parameters() == (1433 * 64 + 64) + 2 * (64 * 64 + 64) + (64 * 7 + 7)


def test_kipf_frame_is_two_gcn_layers_from_the_raw_features_to_the_classes():
    """embed=False, head='none': h1 = relu(Â (X V1 + b1)), out = Â (h1 V2 + b2) (Â = D^-1/2 (A + I) D^-1/2; our GCN layer
    applies V before aggregating), against a dense float64 computation; Kipf & Welling's parameter count."""
    import torch

    from gatedgcn import Graph, collate
    from gatedgcn.model import GraphNet, ModelSpec

    torch.manual_seed(0)
    N, F, C = 6, 5, 3
    ei = torch.tensor([[0, 1, 1, 2, 3, 4, 4, 5], [1, 0, 2, 1, 4, 3, 5, 4]])
    g = Graph(x=torch.rand(N, F, dtype=torch.float64), edge_index=ei)
    spec = ModelSpec(
        layer="gcn",
        layers=2,
        hidden=4,
        out_dim=C,
        level="node",
        in_dim=F,
        embed=False,
        head="none",
        batch_norm=False,
        residual=False,
        gcn_norm="symmetric",
        self_loops=True,
        gcn_self_weight=False,
        impl="reference",
    )
    model = GraphNet(spec).double().eval()
    assert model.num_parameters() == F * 4 + 4 + 4 * C + C
    A = torch.eye(N, dtype=torch.float64)
    A[ei[1], ei[0]] = 1.0
    d = A.sum(1)
    A_hat = A / torch.sqrt(d[:, None] * d[None, :])
    (l1, l2) = (b.layer for b in model.layers)
    W = [dict(layer.named_parameters()) for layer in (l1, l2)]
    lin = lambda p, h: (
        h @ next(v for k, v in p.items() if "weight" in k).T + next(v for k, v in p.items() if "bias" in k)
    )  # noqa: E731
    h1 = torch.relu(A_hat @ lin(W[0], g.x))
    out = A_hat @ lin(W[1], h1)
    torch.testing.assert_close(model(collate([g])), out)
