"""SelfAttention without weights asked for runs torch's fused attention (``_fused``); with weights (or ``hard``) the
explicit softmax.  Both against the dense float64 equation per set, values and gradients: padded sets of different
sizes, a set that is all padding (h = 0, finite gradients), concatenated heads, and float32 at a padded size like a
batch of peptides (the fused kernel's own path)."""

from __future__ import annotations

import pytest
import torch

from gatedgcn.nn import SelfAttention

import dense
from helpers import compare_with_grads

D = 6


def _padded(sizes: list[int], dim: int, dtype=torch.float64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """x ``[B, T, dim]`` with zeros at the padding, and the key padding mask ``[B, T]`` (True = padding)."""
    T = max(sizes)
    g = torch.Generator().manual_seed(seed)
    mask = torch.arange(T)[None, :] >= torch.tensor(sizes)[:, None]  # [B, T]
    x = torch.randn(len(sizes), T, dim, generator=g, dtype=dtype).masked_fill(mask[..., None], 0.0)
    return x.requires_grad_(), mask


def _per_set(layer: SelfAttention, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Each set alone through the dense equation; padding query rows see the set's keys as the layer's do;
    a set without keys gives 0."""
    rows = []
    for b in range(x.shape[0]):
        if mask[b].all():
            rows.append(torch.zeros_like(x[b]))
        else:
            rows.append(dense.self_attention(x[b], layer, mask[b]))  # [T, D]
    return torch.stack(rows)  # [B, T, D]


@pytest.mark.parametrize("heads", [1, 3])
def test_fused_path_matches_dense_with_padding_and_an_empty_set(heads):
    layer = SelfAttention(D, heads=heads).double()
    x, mask = _padded([5, 2, 0, 4], D)
    compare_with_grads(lambda: layer(x, mask), lambda: _per_set(layer, x, mask), [x], list(layer.parameters()))
    h = layer(x, mask)
    assert torch.all(h[2] == 0)
    (grad,) = torch.autograd.grad(h.sum(), [x])
    assert torch.isfinite(grad).all()


@pytest.mark.parametrize("join", ["concat", "mean"])
def test_fused_and_explicit_paths_agree(join):
    layer = SelfAttention(D, heads=2, heads_join=join).double()
    x, mask = _padded([3, 6, 1], D, seed=1)
    compare_with_grads(
        lambda: layer(x, mask), lambda: layer(x, mask, return_weights=True)[0], [x], list(layer.parameters())
    )


def test_float32_at_a_peptide_batch_size_matches_float64_dense():
    torch.manual_seed(0)
    layer = SelfAttention(24, heads=4, heads_join="concat")
    sizes = [150, 97, 201, 64, 180, 33]
    x32, mask = _padded(sizes, 24, dtype=torch.float32, seed=2)
    h32 = layer(x32, mask)
    ref = layer.double()
    x64 = x32.detach().double().requires_grad_()
    h64 = ref(x64, mask, return_weights=True)[0]  # the explicit softmax, float64
    torch.testing.assert_close(h32.double(), h64, atol=2e-5, rtol=1e-4)
    g = torch.randn(h64.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    (g32,) = torch.autograd.grad((h32 * g.float()).sum(), [x32])
    (g64,) = torch.autograd.grad((h64 * g).sum(), [x64])
    torch.testing.assert_close(g32.double(), g64, atol=2e-5, rtol=1e-4)
