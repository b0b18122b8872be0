"""explain on a GPS run shows both of its weights: the gates η of its gated GCN and the attention a over the graph's
nodes, each checked against a dense float64 computation on the first layer's input; the CLI draws both."""

from __future__ import annotations

import pytest
import torch

from gatedgcn.app.explain import explain
from gatedgcn.app.predict import load
from gatedgcn.cli import main
from gatedgcn.errors import GatedGCNError

from dense import adjacency
from tiny_run import png_size, train_tiny


def linear(t: torch.Tensor, lin: torch.nn.Linear) -> torch.Tensor:
    """``W t + b`` in float64 from the float32 weights of the run."""
    return t @ lin.weight.double().t() + lin.bias.double()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("explain-gps") / "run", "model.layer=gps", "model.heads=2")


@torch.no_grad()
def test_gps_gates_and_attention_of_the_first_layer_are_the_dense_ones(run_dir):
    run = load(run_dir)
    model, g = run.model.eval(), run.dataset.splits["test"][0]
    n = g.num_nodes
    x = model.embed_h.weight.double()[g.x]  # the first layer's input h⁰ (the mini set's nodes: in-degree categories)
    e = (
        linear(g.edge_attr.double(), model.embed_e)
        if g.edge_attr is not None
        else model.embed_e.weight.double().expand(g.num_edges, -1)
    )
    layer = model.layers[0]
    gated, j, i = layer.local, g.edge_index[0], g.edge_index[1]
    e_hat = linear(e, gated.C) + linear(x, gated.D)[j] + linear(x, gated.E)[i]  # [E, d]
    sig = torch.sigmoid(e_hat)
    denom = torch.zeros(n, sig.shape[1], dtype=torch.float64).index_add_(0, i, sig)
    eta = sig / (denom[i] + gated.eps)  # [E, d]
    gates = explain(model, g, 0, part="gates")
    torch.testing.assert_close(gates.weights, eta.mean(-1), atol=1e-5, rtol=1e-4)
    att, heads, d = layer.attention, 2, x.shape[1]
    a = []
    for h in range(heads):
        rows = slice(h * d, (h + 1) * d)
        q, k = x @ att.W_q.weight.double()[rows].t(), x @ att.W_k.weight.double()[rows].t()
        a.append(torch.softmax(q @ k.t() / d**0.5, dim=1))  # [i, j]
    attention = explain(model, g, 0, part="attention")
    torch.testing.assert_close(attention.weights, torch.stack(a).mean(0)[i, j], atol=1e-5, rtol=1e-4)
    assert "gates" in gates.symbol and "attention" in attention.symbol
    assert adjacency(g.edge_index, n).sum() == g.num_edges  # every edge explained once
    with pytest.raises(GatedGCNError, match="parts gates, attention"):
        explain(model, g, 0, part="heads")


def test_explain_cli_draws_both_parts_of_a_gps_layer(run_dir, tmp_path):
    out = tmp_path / "gps.png"
    assert main(["explain", str(run_dir), "--graph", "0", "--out", str(out)]) == 0
    for part in ("gates", "attention"):
        width, height = png_size(tmp_path / f"gps-{part}.png")
        assert width > 100 and height > 100
