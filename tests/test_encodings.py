"""Positional encodings against networkx's Laplacian and hand-computed return probabilities; the model's use of them."""

import networkx as nx
import numpy as np
import pytest
import torch

from gatedgcn.data.encodings import add_encoding, laplacian_pe, random_walk_pe
from gatedgcn.errors import ConfigError, GraphError
from gatedgcn.graph import Batch, Graph, collate
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


def _pe_batch(k: int) -> Batch:
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


def _dense_return_probabilities(edge_index: torch.Tensor, n: int, k: int) -> np.ndarray:
    """Independent float64 reference: the diagonal of the dense powers of M = A D^-1."""
    A = np.zeros((n, n))
    for j, i in edge_index.t().tolist():
        if i != j:
            A[i, j] = A[j, i] = 1.0
    d = A.sum(0)
    M = A / np.where(d > 0, d, np.inf)[None, :]
    out, power = np.zeros((n, k)), np.eye(n)
    for s in range(k):
        power = power @ M
        out[:, s] = np.diag(power)
    return out


@pytest.mark.parametrize("k", [1, 2, 5, 8])
def test_sparse_random_walk_pe_matches_dense_powers_on_random_graphs_with_loops_repeats_and_isolated_nodes(k):
    rng = np.random.default_rng(k)
    n = 30
    pairs = rng.integers(0, n - 3, size=(2, 70))  # the last 3 nodes isolated
    pairs = np.concatenate([pairs, [[4, 4, 5], [4, 6, 6]]], axis=1)  # a self-loop and a repeated edge
    edge_index = torch.from_numpy(pairs)
    pe = random_walk_pe(edge_index, n, k).double().numpy()
    assert np.allclose(pe, _dense_return_probabilities(edge_index, n, k), atol=1e-6)


def test_random_walk_pe_of_a_union_equals_the_graphs_one_by_one():
    graphs = [
        Graph(x=torch.zeros(G.number_of_nodes(), dtype=torch.long), edge_index=_edge_index(G))
        for G in (nx.cycle_graph(5), nx.petersen_graph(), nx.path_graph(4), nx.star_graph(6))
    ]
    together = add_encoding(graphs, "random_walk", 6)
    for g, h in zip(graphs, together):
        assert torch.allclose(h.pe, random_walk_pe(g.edge_index, g.num_nodes, 6), atol=1e-7)


def test_random_walk_pe_of_a_100k_node_grid_is_sparse_work():
    """A dense [N, N] float64 matrix of this graph would take 80 GB; the sparse code needs seconds (not asserted)."""
    side = 317
    G = nx.grid_2d_graph(side, side)
    index = {v: n for n, v in enumerate(G.nodes())}
    edge_index = torch.tensor([[index[u], index[v]] for u, v in G.edges()]).t()  # one direction: symmetrised inside
    pe = random_walk_pe(edge_index, G.number_of_nodes(), 4)
    assert pe.shape == (side * side, 4)
    # inner node of a grid: back after 2 steps with 1/4; after 4 with 9/64 (4·(1/4)³ ... counted by hand: 36 walks / 4^4)
    inner = index[(side // 2, side // 2)]
    assert torch.allclose(pe[inner], torch.tensor([0.0, 0.25, 0.0, 36 / 256]), atol=1e-6)
    corner = index[(0, 0)]  # degree 2, neighbours of degree 3: back after 2 steps with 1/3
    assert torch.isclose(pe[corner, 1], torch.tensor(1 / 3), atol=1e-6)


def test_sparse_laplacian_pe_of_a_graph_above_the_dense_size_are_its_smallest_eigenvectors():
    G = nx.connected_watts_strogatz_graph(700, 4, 0.3, seed=1)
    n, k = G.number_of_nodes(), 3
    L = nx.normalized_laplacian_matrix(G, nodelist=range(n)).toarray()
    expected = np.sort(np.linalg.eigvalsh(L))[1 : k + 1]
    pe = laplacian_pe(_edge_index(G), n, k).double().numpy()
    assert np.allclose(pe.T @ pe, np.eye(k), atol=1e-4)
    assert np.allclose(np.einsum("nk,nm,mk->k", pe, L, pe), expected, atol=1e-5)
    assert np.allclose(pe, laplacian_pe(_edge_index(G), n, k).numpy())  # the same vectors (and signs) again


def test_encode_splits_caches_the_encodings_with_the_dataset(tmp_path):
    from gatedgcn.data.encodings import encode_splits

    G = nx.petersen_graph()
    g = Graph(x=torch.arange(10), edge_index=_edge_index(G), y=torch.tensor(1.0))
    splits = {"train": [g, g], "val": [g]}
    first = encode_splits(splits, "random_walk", 5, tmp_path, name="toy")
    assert len(list(tmp_path.glob("toy-pe-random_walk-*.safetensors"))) == 1
    again = encode_splits(splits, "random_walk", 5, tmp_path, name="toy")
    for split, graphs in splits.items():
        for a, b, orig in zip(first[split], again[split], graphs):
            assert torch.equal(a.pe, b.pe) and torch.equal(b.x, orig.x) and torch.equal(b.y, orig.y)
    assert torch.allclose(
        first["val"][0].pe, torch.from_numpy(_dense_return_probabilities(g.edge_index, 10, 5)).float()
    )
    other = Graph(x=torch.arange(10), edge_index=_edge_index(nx.cycle_graph(10)), y=torch.tensor(1.0))
    changed = encode_splits({"train": [other]}, "random_walk", 5, tmp_path, name="toy")  # new structure: new entry
    assert torch.allclose(changed["train"][0].pe, torch.tensor([[0.0, 0.5, 0.0, 0.375, 0.0]] * 10), atol=1e-6)
