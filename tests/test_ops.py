"""The shared sparse primitives against dense float64 computations, values and gradients."""

from __future__ import annotations

import torch

from gatedgcn.ops import (
    normalise_gates,
    pad_segments,
    segment_count,
    segment_max,
    segment_mean,
    segment_softmax,
    segment_sum,
)

INDEX = torch.tensor([2, 0, 2, 2, 0, 4])  # segments 1 and 3 are empty
S = 5


def members(s):
    return (s == INDEX).nonzero().flatten().tolist()


def src(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).requires_grad_()


def test_segment_sum_mean_max_count():
    x = src(6, 3)
    total, mean, peak = segment_sum(x, INDEX, S), segment_mean(x, INDEX, S), segment_max(x, INDEX, S)
    for s in range(S):
        rows = members(s)
        want_sum = x[rows].sum(0) if rows else torch.zeros(3, dtype=torch.float64)
        torch.testing.assert_close(total[s], want_sum)
        torch.testing.assert_close(mean[s], want_sum / max(len(rows), 1))
        torch.testing.assert_close(peak[s], x[rows].max(0).values if rows else torch.zeros(3, dtype=torch.float64))
    assert segment_count(INDEX, S).tolist() == [2, 0, 3, 0, 1]


def test_segment_softmax_is_dense_softmax_within_segments():
    scores = src(6, 2) * 30  # large scores: the softmax must stay stable
    a = segment_softmax(scores, INDEX, S)
    for s in (0, 2, 4):
        rows = members(s)
        torch.testing.assert_close(a[rows], torch.softmax(scores[rows], dim=0))
    assert torch.isfinite(a).all()


def test_segment_softmax_gradients():
    scores = src(6, 2)
    assert torch.autograd.gradcheck(lambda t: segment_softmax(t, INDEX, S), (scores,))
    # the same gradient as the dense softmax of each segment
    w = torch.randn(6, 2, dtype=torch.float64)
    (g,) = torch.autograd.grad((segment_softmax(scores, INDEX, S) * w).sum(), scores)
    want = torch.zeros_like(scores)
    for s in (0, 2, 4):
        rows = members(s)
        t = scores.detach()[rows].clone().requires_grad_()
        (gd,) = torch.autograd.grad((torch.softmax(t, 0) * w[rows]).sum(), t)
        want[rows] = gd
    torch.testing.assert_close(g, want)


def test_normalise_gates():
    sigma = torch.sigmoid(src(6, 4))
    eta = normalise_gates(sigma, INDEX, S, eps=1e-3)
    for s in (0, 2, 4):
        rows = members(s)
        torch.testing.assert_close(eta[rows], sigma[rows] / (sigma[rows].sum(0) + 1e-3))
    assert torch.autograd.gradcheck(lambda t: normalise_gates(t, INDEX, S, 1e-6), (sigma.detach().requires_grad_(),))


def test_sum_and_mean_gradients():
    x = src(6, 3)
    assert torch.autograd.gradcheck(lambda t: segment_sum(t, INDEX, S), (x,))
    assert torch.autograd.gradcheck(lambda t: segment_mean(t, INDEX, S), (x,))


def test_pad_segments_round_trip():
    x = src(6, 2).detach()
    counts = torch.tensor([3, 0, 2, 1])
    dense, padding = pad_segments(x, counts)
    assert dense.shape == (4, 3, 2)
    assert padding.tolist() == [[False] * 3, [True] * 3, [False, False, True], [False, True, True]]
    torch.testing.assert_close(dense[0], x[:3])
    torch.testing.assert_close(dense[2, :2], x[3:5])
    torch.testing.assert_close(dense[~padding], x)
    assert torch.all(dense[padding] == 0)
