"""The gates drawn are the gates the model computes: checked against a dense float64 forward pass."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib import colormaps
from matplotlib.colors import Normalize

from gatedgcn import Graph
from gatedgcn.app.explain import CMAP, CMAP_RELATIVE, Explanation, colour_scale, draw, explain, figure, neighbourhood
from gatedgcn.app.predict import load
from gatedgcn.cli import main
from gatedgcn.errors import GatedGCNError, GraphError
from gatedgcn.model import GraphNet, ModelSpec

from dense import adjacency, linear
from tiny_run import png_size, train_tiny


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("explain") / "run")


def _bn_eval(t, bn):
    return (t - bn.running_mean.double()) / torch.sqrt(
        bn.running_var.double() + bn.eps
    ) * bn.weight.double() + bn.bias.double()


@torch.no_grad()
def dense_gates(model: GraphNet, g: Graph) -> list[torch.Tensor]:
    """η of every layer, mean over channels, per edge: the gated GCN network written out densely in float64 (eval mode)."""
    model = model.double()
    n = g.num_nodes
    adj = adjacency(g.edge_index, n)  # [i, j]
    j_idx, i_idx = g.edge_index
    embed = model.embed_h  # the in-degree as a category id (nn.Embedding), or float features (nn.Linear)
    x = embed.weight[g.x] if isinstance(embed, torch.nn.Embedding) else linear(g.x.double(), embed)  # [n, d]
    e = linear(g.edge_attr.double(), model.embed_e)  # [E, d]
    node_scale, edge_scale = n**-0.5, g.num_edges**-0.5
    gates = []
    for layer in model.layers:
        d = x.shape[1]
        e_dense = torch.zeros(n, n, d, dtype=torch.float64).index_put((i_idx, j_idx), linear(e, layer.C))
        e_hat = e_dense + linear(x, layer.D)[None, :, :] + linear(x, layer.E)[:, None, :]  # [i, j, d]
        sig = torch.sigmoid(e_hat) * adj[:, :, None]
        eta = sig / (sig.sum(1, keepdim=True) + layer.eps)  # [i, j, d]
        gates.append(eta[i_idx, j_idx].mean(-1))  # [E]
        h = linear(x, layer.A) + (eta * linear(x, layer.B)[None, :, :]).sum(1)
        h = torch.relu(_bn_eval(h * node_scale, layer.bn_h))
        x = x + h
        if layer.edge_update:  # the last layer computes no edge state (nothing reads it)
            e = e + torch.relu(_bn_eval(e_hat[i_idx, j_idx] * edge_scale, layer.bn_e))
    model.float()
    return gates


def test_gates_drawn_equal_the_models_gates(run_dir):
    run = load(run_dir)
    g = run.dataset.splits["test"][2]  # a wheel: hub and rim have different gates
    reference = dense_gates(run.model, g)
    for layer in range(len(run.model.layers)):
        x = explain(run.model, g, layer)
        assert x.layer == layer
        torch.testing.assert_close(x.weights, reference[layer], atol=1e-5, rtol=1e-4)
    assert reference[0].std() > 1e-3  # the gates differ from edge to edge: the test can see a swap
    # what is shown: each arrow j -> i in the colour of its gate, each node in the colour of its self-loop gate
    from matplotlib.figure import Figure

    ax = Figure().subplots()
    x = explain(run.model, g, -1)
    norm = Normalize(0.0, float(x.weights.max()))
    arrows, nodes = draw(ax, x, norm)
    cmap = colormaps[CMAP]
    j, i = g.edge_index.tolist()
    arcs = [k for k in range(g.num_edges) if j[k] != i[k]]
    assert len(arrows) == len(arcs)
    for arrow, k in zip(arrows, arcs):
        assert np.allclose(arrow.get_edgecolor(), cmap(norm(float(reference[-1][k]))), atol=1e-6)
    loops = {j[k]: float(reference[-1][k]) for k in range(g.num_edges) if j[k] == i[k]}
    assert np.allclose(nodes.get_facecolor(), [cmap(norm(loops[v])) for v in range(g.num_nodes)], atol=1e-6)


def test_gcn_weights_are_one_over_the_in_degree():
    g = Graph(x=torch.ones(4, 1), edge_index=torch.tensor([[1, 2, 3, 0, 0], [0, 0, 0, 1, 2]]))
    model = GraphNet(ModelSpec(layer="gcn", layers=2, hidden=8, in_dim=1))
    x = explain(model, g, 0)
    assert x.weights.tolist() == pytest.approx([1 / 3, 1 / 3, 1 / 3, 1.0, 1.0])


def test_with_self_loops_the_graphs_own_edges_are_explained():
    """The GCN with loops weighs each of a receiver's d_i senders and itself by 1 / (d_i + 1); the loops are not the graph's edges."""
    g = Graph(x=torch.ones(4, 1), edge_index=torch.tensor([[1, 2, 3, 0, 0], [0, 0, 0, 1, 2]]))
    model = GraphNet(ModelSpec(layer="gcn", layers=1, hidden=8, in_dim=1, self_loops=True))
    x = explain(model, g, 0)
    assert x.weights.tolist() == pytest.approx([1 / 4, 1 / 4, 1 / 4, 1 / 2, 1 / 2])


@pytest.mark.parametrize("layer", ["graph_attention", "attention"])
def test_attention_weights_are_the_softmax_of_the_first_layer(layer):
    torch.manual_seed(1)
    g = Graph(x=torch.randn(4, 3), edge_index=torch.tensor([[1, 2, 3, 0, 2], [0, 0, 0, 1, 1]]))
    model = GraphNet(ModelSpec(layer=layer, layers=1, hidden=8, in_dim=3, heads=2)).double()
    g = g.replace(x=g.x.double())
    x = explain(model, g, 0)
    att = model.layers[0].layer
    h = linear(g.x, model.embed_h)  # [4, 8]
    dim = 8
    expected = torch.zeros(g.num_edges, dtype=torch.float64)
    for head in range(2):
        rows = slice(head * dim, (head + 1) * dim)
        s = (h @ att.W_q.weight[rows].t()) @ (h @ att.W_k.weight[rows].t()).t() / dim**0.5  # [i, j]
        if layer == "graph_attention":
            s = s.masked_fill(adjacency(g.edge_index, 4) == 0, float("-inf"))
        a = torch.softmax(s, dim=1)
        expected += a[g.edge_index[1], g.edge_index[0]] / 2
    torch.testing.assert_close(x.weights, expected, atol=1e-10, rtol=1e-8)


def test_neighbourhood_keeps_the_receptive_field():
    path = Graph(x=torch.ones(5, 1), edge_index=torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]]), name="path")
    x = Explanation(path, 0, torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64), torch.zeros(5, 2), "a")
    sub = neighbourhood(x, 3, 2)  # node 3 hears from 2 (one hop) and 1 (two hops)
    assert sub.graph.num_nodes == 3 and sub.focus == 2
    assert sub.graph.edge_index.tolist() == [[0, 1], [1, 2]] and sub.weights.tolist() == [0.2, 0.3]
    with pytest.raises(GraphError, match="--node 7: path has nodes 0..4"):
        neighbourhood(x, 7, 1)


def test_explain_cli_writes_the_graph_and_the_gallery(run_dir, tmp_path, capsys):
    assert main(["explain", str(run_dir), "--graph", "2", "--layer", "0", "--out", str(tmp_path / "g.png")]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "g.png")
    width, height = png_size(tmp_path / "g.png")
    assert width > 500 and height > 400 and (tmp_path / "g.png").stat().st_size > 20_000
    assert main(["explain", str(run_dir), "--gallery"]) == 0
    gallery = run_dir / "gallery-layer1.png"
    assert capsys.readouterr().out.strip() == str(gallery)
    assert png_size(gallery)[0] > 1200 and gallery.stat().st_size > 50_000
    assert (
        main(["explain", str(run_dir), "--graph", "1", "--node", "0", "--hops", "1", "--out", str(tmp_path / "n.png")])
        == 0
    )
    assert png_size(tmp_path / "n.png")[0] > 500


def test_a_figure_shows_the_layer_and_a_colour_bar(run_dir):
    run = load(run_dir)
    fig = figure(explain(run.model, run.dataset.splits["test"][0], 1))
    assert len(fig.axes) == 2 and "layer 1" in fig.axes[0].get_title() and "η" in fig.axes[1].get_ylabel()


def test_bad_requests_are_named(run_dir, capsys):
    run = load(run_dir)
    with pytest.raises(GatedGCNError, match="--layer 5: the model has 2 layers"):
        explain(run.model, run.dataset.splits["test"][0], 5)
    assert main(["explain", str(run_dir), "--graph", "99"]) == 1
    assert "--graph 99: the test split has graphs 0..15" in capsys.readouterr().err
    assert main(["explain", str(run_dir), "--split", "holdout"]) == 1
    assert "--split holdout" in capsys.readouterr().err


def test_a_graph_too_large_to_draw_asks_for_a_neighbourhood(run_dir, monkeypatch, capsys, tmp_path):
    import gatedgcn.app.explain

    monkeypatch.setattr(gatedgcn.app.explain, "MAX_DRAWN_NODES", 5)
    assert main(["explain", str(run_dir), "--graph", "0"]) == 1
    assert "too many to draw (at most 5); draw a node's neighbourhood: --node V --hops 1" in capsys.readouterr().err
    assert (
        main(["explain", str(run_dir), "--graph", "0", "--node", "0", "--hops", "1", "--out", str(tmp_path / "n.png")])
        == 0
    )  # a cycle: 3 nodes


def test_relative_weights_are_the_gates_times_the_in_degree(run_dir):
    g = Graph(x=torch.ones(4, 1), edge_index=torch.tensor([[1, 2, 3, 0, 0], [0, 0, 0, 1, 2]]))
    gcn = GraphNet(ModelSpec(layer="gcn", layers=1, hidden=8, in_dim=1))
    assert explain(gcn, g, 0, relative=True).weights.tolist() == pytest.approx(
        [1.0] * 5, abs=1e-7
    )  # the GCN is the reference: d_i / d_i
    run = load(run_dir)
    star = run.dataset.splits["test"][1]
    reference = dense_gates(run.model, star)[0]
    d = torch.bincount(star.edge_index[1]).double()[star.edge_index[1]]  # in-degree of each edge's receiver: [E]
    x = explain(run.model, star, 0, relative=True)
    torch.testing.assert_close(x.weights, reference * d, atol=1e-5, rtol=1e-4)
    cmap_name, norm = colour_scale([x])
    assert cmap_name == CMAP_RELATIVE and norm(1.0) == 0.5  # white at the GCN's weight
