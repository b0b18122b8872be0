"""Degenerate data: empty graphs, graphs without edges and isolated nodes through every layer and readout (and
against the dense equations), and a corrupt dataset cache rebuilt with a warning."""

from __future__ import annotations

import pytest
import torch

from gatedgcn.cli import main
from gatedgcn.graph import Graph, collate
from gatedgcn.model import LAYERS, READOUTS, GraphNet, ModelSpec
from gatedgcn.nn import GatedGCNLayer, GCNLayer, GraphAttention

import dense
from helpers import compare_with_grads
from tiny_run import CLUSTER_TINY


def _degenerate() -> list[Graph]:
    """An empty graph, a graph without edges, a graph with isolated nodes, and an ordinary one."""
    g = torch.Generator().manual_seed(5)
    x = lambda n: torch.randn(n, 1, generator=g)  # noqa: E731
    ring = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]])
    return [
        Graph(x(0), torch.zeros(2, 0, dtype=torch.long), torch.zeros(0, 1), torch.tensor(0)),
        Graph(x(3), torch.zeros(2, 0, dtype=torch.long), torch.zeros(0, 1), torch.tensor(1)),
        Graph(x(6), torch.tensor([[0, 1, 1], [1, 0, 2]]), torch.ones(3, 1), torch.tensor(2)),  # nodes 3, 4, 5 isolated
        Graph(x(4), ring, torch.ones(4, 1), torch.tensor(3)),
    ]


@pytest.mark.parametrize("layer", LAYERS)
@pytest.mark.parametrize("readout", sorted(READOUTS))
def test_empty_graphs_edgeless_graphs_and_isolated_nodes_go_through_every_layer_and_readout(layer, readout):
    graphs = _degenerate()
    spec = ModelSpec(
        layer=layer,
        layers=2,
        hidden=8,
        out_dim=3,
        in_dim=1,
        edge_in_dim=1,
        readout=readout,
        graph_size_norm=True,
        heads=2 if layer != "gcn" else 1,
    )
    model = GraphNet(spec).double()
    batch = collate(graphs)
    batch = type(batch)(
        **{f: (t.double() if t is not None and t.is_floating_point() else t) for f, t in vars(batch).items()}
    )
    model.train()
    out = model(batch)
    assert out.shape == (4, 3) and torch.isfinite(out).all()
    out.square().sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is None or torch.isfinite(p.grad).all(), name
    # in eval mode, a graph's output does not depend on the degenerate graphs batched with it, and an
    # empty graph reads out as the zero vector
    model.eval()
    with torch.no_grad():
        together = model(batch)
        for k, g in enumerate(graphs[1:], start=1):
            alone = collate([g])
            alone = type(alone)(
                **{f: (t.double() if t is not None and t.is_floating_point() else t) for f, t in vars(alone).items()}
            )
            torch.testing.assert_close(together[k], model(alone)[0], rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(
            together[0], model.head(torch.zeros(1, 8, dtype=torch.float64))[0], rtol=1e-12, atol=1e-12
        )


@pytest.mark.parametrize("n, edges", [(5, []), (6, [(0, 1), (1, 0), (2, 1)]), (1, [])])
def test_layers_on_edgeless_graphs_and_isolated_nodes_match_the_dense_equations(n, edges):
    torch.manual_seed(11)
    x = torch.randn(n, 4, dtype=torch.float64, requires_grad=True)
    edge_index = torch.tensor(edges, dtype=torch.long).reshape(-1, 2).t()  # [2, E]
    e = torch.randn(edge_index.shape[1], 4, dtype=torch.float64, requires_grad=True)
    gcn = GCNLayer(4, 4).double()
    gat = GraphAttention(4, heads=2).double()
    gated = GatedGCNLayer(4, batch_norm=False).double()
    for layer, ours, ref in (
        (gcn, lambda: gcn(x, edge_index), lambda: dense.gcn(x, edge_index, gcn)),
        (gat, lambda: gat(x, edge_index), lambda: dense.graph_attention(x, edge_index, gat)),
        (gated, lambda: gated(x, edge_index, e), lambda: dense.gated_gcn(x, edge_index, e, gated, training_bn=False)),
    ):
        compare_with_grads(ours, ref, [x, e], list(layer.parameters()))


def test_a_corrupt_dataset_cache_is_rebuilt_with_a_warning_and_the_run_is_unchanged(tmp_path):
    args = ["--quiet", *CLUSTER_TINY]
    assert main(["train", "--out", str(tmp_path / "first"), *args]) == 0
    (entry,) = (tmp_path / "cache").glob("*.safetensors")
    data = bytearray(entry.read_bytes())
    data[len(data) // 2] ^= 0x40
    entry.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="unusable"):
        assert main(["train", "--out", str(tmp_path / "second"), *args]) == 0
    for name in ("model.safetensors", "summary.json"):
        assert (tmp_path / "second" / name).read_bytes() == (tmp_path / "first" / name).read_bytes()
