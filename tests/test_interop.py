"""networkx and PyTorch Geometric conversions: batches keep their graph ids, a graph without x gets a constant
feature, masks and extra attributes survive, y survives networkx, non-numeric attributes get our error; and our
gated layer trains inside a plain PyG DataLoader + global_mean_pool model."""

import networkx as nx
import pytest
import torch
from torch import nn

import gatedgcn
from gatedgcn import Batch, Graph, GraphError, from_networkx, to_networkx
from gatedgcn.nn import GatedGCNLayer

pyg = pytest.importorskip("torch_geometric")
from torch_geometric.data import Batch as PygBatch  # noqa: E402
from torch_geometric.data import Data  # noqa: E402
from torch_geometric.loader import DataLoader  # noqa: E402
from torch_geometric.nn import global_mean_pool  # noqa: E402


def _data(n, y, **kw):
    ring = torch.tensor([list(range(n)), [(k + 1) % n for k in range(n)]])  # [2, n]
    return Data(x=torch.randn(n, 3), edge_index=ring, edge_attr=torch.randn(n, 2), y=torch.tensor([y]), **kw)


def test_exported_from_the_package():
    assert gatedgcn.from_pyg is not None and gatedgcn.to_pyg is not None


def test_a_pyg_batch_becomes_our_batch_with_its_graph_ids():
    pb = PygBatch.from_data_list([_data(3, 0), _data(2, 1), _data(4, 0)])
    b = gatedgcn.from_pyg(pb)
    assert isinstance(b, Batch) and b.num_graphs == 3
    assert b.node_graph.tolist() == [0, 0, 0, 1, 1, 2, 2, 2, 2]
    assert b.nodes_per_graph.tolist() == [3, 2, 4] and b.edges_per_graph.tolist() == [3, 2, 4]
    assert torch.equal(b.edge_index, pb.edge_index) and b.y.tolist() == [0, 1, 0]


def test_data_without_x_gets_a_constant_feature_and_keeps_masks_and_extras():
    mask = torch.tensor([True, False, True, False])
    d = Data(edge_index=torch.tensor([[0, 1, 2], [1, 2, 3]]), num_nodes=4, train_mask=mask, score=torch.arange(4.0))
    g = gatedgcn.from_pyg(d)
    assert isinstance(g, Graph) and g.x.tolist() == [[1.0]] * 4
    assert torch.equal(g.extra["train_mask"], mask) and g.extra["score"].tolist() == [0.0, 1.0, 2.0, 3.0]
    back = gatedgcn.to_pyg(g)
    assert torch.equal(back.train_mask, mask) and back.num_nodes == 4


def test_a_string_attribute_is_refused_with_our_error():
    d = _data(3, 0)
    d.label = "active"
    with pytest.raises(GraphError, match="attribute 'label' is a str"):
        gatedgcn.from_pyg(d)
    G = nx.path_graph(3)
    nx.set_node_attributes(G, {0: "C", 1: "N", 2: "O"}, "element")
    with pytest.raises(GraphError, match="node attribute 'element' must be numbers"):
        from_networkx(G, node_attr="element")


def test_to_networkx_keeps_y():
    g = Graph(x=torch.ones(3, 1), edge_index=torch.tensor([[0, 1], [1, 2]]), y=torch.tensor(2))
    G = to_networkx(g)
    assert G.graph["y"] == 2 and from_networkx(G, node_attr="x").y.item() == 2
    nodes = Graph(x=torch.ones(3, 1), edge_index=torch.tensor([[0, 1], [1, 2]]), y=torch.tensor([1, 0, 1]))
    assert [to_networkx(nodes).nodes[v]["y"] for v in range(3)] == [1, 0, 1]


class _PygModel(nn.Module):
    """A PyG user's model: raw features -> our gated layer -> global_mean_pool -> linear."""

    def __init__(self, d: int = 16) -> None:
        super().__init__()
        self.embed_h, self.embed_e = nn.Linear(3, d), nn.Linear(2, d)
        self.layer = GatedGCNLayer(d)
        self.out = nn.Linear(d, 2)

    def forward(self, data):
        h, e = self.layer(self.embed_h(data.x), data.edge_index, self.embed_e(data.edge_attr))  # [N, d], [E, d]
        return self.out(global_mean_pool(h, data.batch))  # [B, 2]


def test_gated_layer_trains_in_a_pyg_dataloader():
    torch.manual_seed(0)
    # class 1: the first feature is large on every node; class 0: small
    graphs = []
    for k in range(40):
        d = _data(4 + k % 3, k % 2)
        d.x[:, 0] = 3.0 if k % 2 else -3.0
        graphs.append(d)
    model = _PygModel()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    loader = DataLoader(graphs, batch_size=8, shuffle=True)
    losses = []
    for _ in range(15):
        for batch in loader:
            loss = nn.functional.cross_entropy(model(batch), batch.y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
    assert sum(losses[-5:]) / 5 < 0.1 < sum(losses[:5]) / 5  # it learned the separable task
    model.eval()
    with torch.no_grad():
        batch = next(iter(DataLoader(graphs, batch_size=40)))
        assert (model(batch).argmax(-1) == batch.y).float().mean() == 1.0
