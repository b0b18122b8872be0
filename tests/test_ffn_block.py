"""The feed-forward block h' = BN(h + Drop(W₂ Drop(f(W₁ h)))) against a dense float64 version, values and gradients,
with dropout masks fixed by the test (so the reference applies the same ones), for each activation."""

from __future__ import annotations

import math

import pytest
import torch

from gatedgcn.nn.ffn import FeedForward
from masks import FixedMask, bernoulli_mask

import dense
from helpers import compare_with_grads


def _f(name: str, t: torch.Tensor) -> torch.Tensor:
    """The activations written out."""
    if name == "relu":
        return torch.where(t > 0, t, torch.zeros_like(t))
    if name == "elu":
        return torch.where(t > 0, t, torch.exp(t) - 1)
    return 0.5 * t * (1 + torch.erf(t / math.sqrt(2)))  # GELU, exact form


@pytest.mark.parametrize("activation", ["relu", "gelu", "elu"])
@pytest.mark.parametrize("factor", [1, 2, 3])
def test_ffn_block_with_dropout_matches_the_dense_equation(activation, factor):
    torch.manual_seed(factor)
    n, d, p = 11, 6, 0.3
    block = FeedForward(d, factor=factor, activation=activation, dropout=p).double().train()
    inner_mask, outer_mask = bernoulli_mask((n, factor * d), p, 1), bernoulli_mask((n, d), p, 2)
    block.drop_inner, block.drop_outer = FixedMask(inner_mask, p), FixedMask(outer_mask, p)
    h = torch.randn(n, d, dtype=torch.float64, requires_grad=True)

    def reference():
        inner = _f(activation, dense.linear(h, block.W_1)) * inner_mask / (1 - p)
        return dense.batch_norm(h + dense.linear(inner, block.W_2) * outer_mask / (1 - p), block.bn)

    params = list(block.parameters())
    compare_with_grads(lambda: block(h), reference, [h], params)


def test_ffn_block_in_eval_uses_no_dropout_and_the_running_statistics():
    torch.manual_seed(0)
    block = FeedForward(5, dropout=0.5, activation="gelu").double()
    h = torch.randn(20, 5, dtype=torch.float64)
    block.train()
    block(h)  # moves the running statistics
    block.eval()
    bn = block.bn
    x = h + dense.linear(_f("gelu", dense.linear(h, block.W_1)), block.W_2)
    expected = (x - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight + bn.bias
    torch.testing.assert_close(block(h), expected)
    torch.testing.assert_close(block(h), block(h))  # deterministic


def test_ffn_block_refuses_bad_options():
    with pytest.raises(ValueError, match="activation"):
        FeedForward(4, activation="tanh")
    with pytest.raises(ValueError, match="factor"):
        FeedForward(4, factor=0)
