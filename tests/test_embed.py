"""The model's input embedding of K category ids per row (OGB's 9 atom / 3 bond ids): ``Σ_k W[t_rk]`` computed as one
``embedding_bag``, against a dense float64 one-hot sum, values and gradients; float features and one id per row pass
through the module unchanged."""

import pytest
import torch
from torch import nn

from gatedgcn.model.blocks import embed


def _dense(W: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    counts = torch.zeros(ids.shape[0], W.shape[0], dtype=W.dtype)  # [R, V]: how often row v is among the K ids
    counts.scatter_add_(1, ids, torch.ones(ids.shape, dtype=W.dtype))
    return counts @ W  # [R, hidden]


@pytest.mark.parametrize("R,K,V", [(40, 9, 20), (33, 3, 4), (1, 1, 5)])
def test_k_ids_sum_their_rows_values_and_gradients(R, K, V):
    torch.manual_seed(0)
    table = nn.Embedding(V, 6).double()
    ids = torch.randint(0, V, (R, K))  # repeats within a row and across rows
    g = torch.randn(R, 6, dtype=torch.float64)
    out = embed(table, ids)  # [R, 6]
    (out * g).sum().backward()
    W = table.weight.detach().clone().requires_grad_(True)
    dense = _dense(W, ids)
    (dense * g).sum().backward()
    torch.testing.assert_close(out, dense)
    torch.testing.assert_close(table.weight.grad, W.grad)


def test_no_rows_and_single_ids_and_floats():
    table = nn.Embedding(5, 4).double()
    assert embed(table, torch.zeros(0, 3, dtype=torch.long)).shape == (0, 4)
    ids = torch.tensor([4, 0, 4])
    torch.testing.assert_close(embed(table, ids), table.weight[ids])  # one id per row: the module itself
    linear = nn.Linear(3, 4).double()
    x = torch.randn(7, 3, dtype=torch.float64)
    torch.testing.assert_close(embed(linear, x), linear(x))


def test_a_table_embed_cannot_sum_exactly_is_refused():
    with pytest.raises(TypeError, match="plain nn.Embedding"):
        embed(nn.Embedding(5, 4, max_norm=1.0), torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(TypeError, match="plain nn.Embedding"):
        embed(nn.Linear(3, 4), torch.zeros(2, 3, dtype=torch.long))
