"""Which kernel an op of gatedgcn.ops runs: the plain equations below its threshold, the fused kernels from it."""

from __future__ import annotations

import torch

from gatedgcn import ops
from gatedgcn.nn import GatedGCNLayer
from gatedgcn.ops import _select

from helpers import random_graph

D = 5


def leaf(*shape):
    return torch.randn(*shape, dtype=torch.float64).requires_grad_()


def test_fast_runs_the_fused_kernels_only_where_they_pay(monkeypatch):
    from gatedgcn.ops import gated

    monkeypatch.setitem(_select.MIN_ELEMENTS, "gated_edges", 1000)
    monkeypatch.setitem(_select.MIN_ELEMENTS, "gated_edges_compiled", 1000)
    plain = []
    reference = gated.reference
    monkeypatch.setattr(gated, "reference", lambda e, *a, **k: plain.append(e.shape[0]) or reference(e, *a, **k))
    layer = GatedGCNLayer(D).double()
    layer(leaf(30, D), random_graph(30, 100, seed=1), leaf(100, D))  # 500 elements: the plain code
    layer(leaf(60, D), random_graph(60, 300, seed=2), leaf(300, D))  # 1500 elements: fused
    with ops.fused_kernels():
        layer(leaf(30, D), random_graph(30, 100, seed=1), leaf(100, D))  # forced: fused
        layer.impl = "reference"
        layer(leaf(60, D), random_graph(60, 300, seed=2), leaf(300, D))  # the reference, whatever the size
    assert plain == [100, 300]


def test_fused_kernels_nests_and_restores():
    assert _select._STATE.forced is None
    with ops.fused_kernels(chunk_rows=7, compiled=False):
        assert _select.chunk_rows(10, torch.device("cpu")) == 7
        with ops.fused_kernels(chunk_rows=None):
            assert _select.chunk_rows(10, torch.device("cpu")) == _select.CHUNK_ELEMENTS["cpu"] // 10
        assert _select.chunk_rows(10, torch.device("cpu")) == 7
        assert not _select.compiled(10**9, torch.zeros(1))
    assert _select._STATE.forced is None
