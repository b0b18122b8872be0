"""Positional encodings against networkx's Laplacian and hand-computed return probabilities; the model's use of them."""

import networkx as nx
import numpy as np
import pytest
import torch

from gatedgcn.data.encodings import add_encoding, laplacian_pe, random_walk_pe
from gatedgcn.errors import ConfigError, GraphError
from gatedgcn.graph import Graph, collate
from gatedgcn.model import GraphNet, ModelSpec


def _edge_index(G: nx.Graph) -> torch.Tensor:
    pairs = [(u, v) for u, v in G.edges()] + [(v, u) for u, v in G.edges()]
    return torch.tensor(pairs, dtype=torch.long).t().reshape(2, -1)


@pytest.mark.parametrize(
    "G",
    [nx.cycle_graph(7), nx.petersen_graph(), nx.path_graph(6), nx.lollipop_graph(4, 3)],
    ids=["cycle", "petersen", "path", "lollipop"],
)
def test_laplacian_pe_are_eigenvectors_2_to_k_plus_1_of_the_normalised_laplacian(G):
    k = 4
    n = G.number_of_nodes()
    L = nx.normalized_laplacian_matrix(G, nodelist=range(n)).toarray()  # independent construction
    expected = np.sort(np.linalg.eigvalsh(L))[1 : k + 1]
    pe = laplacian_pe(_edge_index(G), n, k).double().numpy()
    assert pe.shape == (n, k)
    assert np.allclose(pe.T @ pe, np.eye(k), atol=1e-5)  # orthonormal columns
    rayleigh = np.einsum("nk,nm,mk->k", pe, L, pe)
    assert np.allclose(rayleigh, expected, atol=1e-5)
    assert np.allclose(L @ pe, pe * rayleigh, atol=1e-4)  # each column is an eigenvector
    trivial = np.sqrt([d for _, d in sorted(G.degree())])
    assert np.allclose(trivial @ pe, 0, atol=1e-5)  # orthogonal to D^{1/2} 1


def test_laplacian_pe_pads_small_graphs_with_zero_columns():
    pe = laplacian_pe(_edge_index(nx.path_graph(3)), 3, 5)
    assert pe.shape == (3, 5)
    assert torch.count_nonzero(pe[:, 2:]) == 0
    assert torch.count_nonzero(pe[:, :2]) > 0


def test_random_walk_pe_hand_computed_path_and_triangle():
    path = random_walk_pe(_edge_index(nx.path_graph(3)), 3, 4)
    # 0-1-2: from an end, back after 2 steps with 1/2, after 4 with 1/4 + 1/4; the middle always returns in even steps
    assert torch.allclose(path, torch.tensor([[0, 0.5, 0, 0.5], [0, 1, 0, 1], [0, 0.5, 0, 0.5]]), atol=1e-6)
    tri = random_walk_pe(_edge_index(nx.cycle_graph(3)), 3, 3)
    assert torch.allclose(tri, torch.tensor([[0, 0.5, 0.25]] * 3), atol=1e-6)


def test_isolated_nodes_get_zero_encodings_without_nan():
    edge_index = torch.tensor([[0, 1], [1, 0]])  # nodes 2 and 3 isolated
    assert torch.isfinite(laplacian_pe(edge_index, 4, 3)).all()
    rw = random_walk_pe(edge_index, 4, 3)
    assert torch.isfinite(rw).all() and torch.count_nonzero(rw[2:]) == 0
    assert torch.allclose(rw[:2], torch.tensor([[0.0, 1.0, 0.0]] * 2))


def test_add_encoding_sets_pe_and_rejects_unknown_kind():
    g = Graph(x=torch.zeros(5, dtype=torch.long), edge_index=_edge_index(nx.cycle_graph(5)))
    (h,) = add_encoding([g], "random_walk", 2)
    assert h.pe.shape == (5, 2) and g.pe is None  # the input graph is not changed
    with pytest.raises(ConfigError, match="data.pe"):
        add_encoding([g], "eigen", 2)


def _pe_batch(k: int) -> "Batch":
    graphs = []
    for n in (5, 6):
        G = nx.cycle_graph(n)
        graphs.append(
            Graph(
                x=torch.zeros(n, dtype=torch.long),
                edge_index=_edge_index(G),
                y=torch.tensor(0),
                pe=laplacian_pe(_edge_index(G), n, k),
            )
        )
    return collate(graphs)


def test_model_adds_the_pe_embedding_and_flips_signs_per_graph_only_in_training():
    torch.manual_seed(0)
    k = 3
    batch = _pe_batch(k)
    model = GraphNet(
        ModelSpec(layer="gcn", layers=1, hidden=8, out_dim=2, in_dim=0, node_vocab=1, pe_dim=k, pe_sign_flip=True)
    )
    model.eval()
    assert torch.equal(model._positions(batch), batch.pe)
    model.train()
    flipped = model._positions(batch)
    assert torch.equal(flipped.abs(), batch.pe.abs())
    for graph in range(batch.num_graphs):
        rows = batch.node_graph == graph
        ratio = flipped[rows] / batch.pe[rows]  # one sign per (graph, column)
        finite = torch.isfinite(ratio)
        for c in range(k):
            signs = ratio[finite[:, c], c].unique()
            assert len(signs) == 1 and abs(float(signs[0])) == 1.0
    # h = embed_h(x) + embed_pe(pe): the first layer's input, checked through the embedding modules
    model.eval()
    h0 = model.embed_h(batch.x) + model.embed_pe(batch.pe)
    expected = model.embed_h.weight[0] + batch.pe @ model.embed_pe.weight.T + model.embed_pe.bias
    assert torch.allclose(h0, expected, atol=1e-6)


def test_model_without_matching_pe_raises_graph_error():
    batch = _pe_batch(3)
    model = GraphNet(ModelSpec(layer="gated_gcn", layers=1, hidden=8, out_dim=2, in_dim=0, node_vocab=1, pe_dim=4))
    with pytest.raises(GraphError, match="width 4"):
        model(batch)
