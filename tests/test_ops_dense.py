"""Every layer of the family against its dense equation (tests/dense.py) with the fused kernels forced on:
the PyTorch chunked kernels and the compiled CPU sweeps (the gated ones recomputing ê in backward or keeping
forward's), in 16-row chunks, on strided inputs, in float32
and float64, with int32 and int64 edge ids (values and gradients).  test_layers.py holds the same
equations against the default path at the small sizes it takes there (the plain equations)."""

from __future__ import annotations

import contextlib
import copy

import pytest
import torch

from gatedgcn import ops
from gatedgcn.nn import GatedGCNLayer, GCNLayer, GraphAttention
from gatedgcn.ops import _native

import dense
from helpers import compare_with_grads, random_graph, randomise_bn

D = 6
# each gated kernel twice: recomputing ê in backward (the large batches) and keeping forward's (the small ones)
KERNELS = ["torch", "compiled", "torch-kept", "compiled-kept"]
TOLERANCE = {torch.float64: 1e-10, torch.float32: 2e-4}


@contextlib.contextmanager
def forced(kernels: str):
    compiled = kernels.startswith("compiled")
    if compiled and _native.library() is None:
        pytest.skip("no C++ compiler: the compiled kernels cannot be built here")
    with ops.fused_kernels(chunk_rows=16, compiled=compiled, keep_e_hat=kernels.endswith("kept")):
        yield


def strided_leaf(rows: int, cols: int, layout: str, dtype: torch.dtype, seed: int) -> torch.Tensor:
    """A leaf ``[rows, cols]`` of random values laid out ``contiguous``, ``transposed`` or ``sliced``."""
    values = torch.randn(rows, cols, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).to(dtype)
    if layout == "transposed":
        t = values.t().contiguous().t()  # strides (1, rows)
    elif layout == "sliced":
        t = torch.zeros(rows, 2 * cols + 1, dtype=dtype)[:, 1::2]  # strides (2 cols + 1, 2)
        t.copy_(values)
    else:
        t = values
    return t.requires_grad_()


cases = pytest.mark.parametrize(
    "dtype, ids, layout",
    [
        (torch.float64, torch.int64, "contiguous"),
        (torch.float64, torch.int32, "transposed"),
        (torch.float32, torch.int64, "sliced"),
        (torch.float32, torch.int32, "contiguous"),
    ],
)


@pytest.mark.parametrize("kernels", KERNELS)
@cases
@pytest.mark.parametrize("training", [True, False])
def test_gated_gcn_fused_matches_dense(kernels, dtype, ids, layout, training):
    n, m = 30, 120
    ei = random_graph(n, m, seed=3).to(ids)
    layer = GatedGCNLayer(D).to(dtype).train(training)
    randomise_bn(layer)
    x, e = strided_leaf(n, D, layout, dtype, 1), strided_leaf(m, D, layout, dtype, 2)
    with forced(kernels):
        compare_with_grads(
            lambda: layer(x, ei, e),
            lambda: dense.gated_gcn(x, ei, e, layer, training_bn=training),
            [x, e],
            list(layer.parameters()),
            atol=TOLERANCE[dtype],
        )


@pytest.mark.parametrize("kernels", KERNELS)
@cases
def test_gated_gcn_fused_without_bn_and_residual_matches_dense(kernels, dtype, ids, layout):
    n, m = 25, 90
    ei = random_graph(n, m, seed=4).to(ids)
    layer = GatedGCNLayer(D, batch_norm=False, residual=False).to(dtype)
    x, e = strided_leaf(n, D, layout, dtype, 3), strided_leaf(m, D, layout, dtype, 4)
    with forced(kernels):
        compare_with_grads(
            lambda: layer(x, ei, e),
            lambda: dense.gated_gcn(x, ei, e, layer, training_bn=True),
            [x, e],
            list(layer.parameters()),
            atol=TOLERANCE[dtype],
        )


@pytest.mark.parametrize("kernels", KERNELS)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("edge_input", ["shared", "none"])
@pytest.mark.parametrize("training", [True, False])
def test_gated_gcn_fused_with_one_edge_state_for_every_edge_matches_dense(kernels, dtype, edge_input, training):
    """e of one row ``[1, d]`` (a network's learned constant edge embedding: the op gets no e, C e in the bias),
    or no edge input (e = 0): the dense equation with that row on every edge; ∂e of the row is the sum."""
    n, m = 30, 120
    ei = random_graph(n, m, seed=5)
    layer = GatedGCNLayer(D).to(dtype).train(training)
    randomise_bn(layer)
    x = strided_leaf(n, D, "contiguous", dtype, 1)
    row = strided_leaf(1, D, "contiguous", dtype, 2)
    given = row if edge_input == "shared" else None
    every = row.expand(m, D) if edge_input == "shared" else torch.zeros(m, D, dtype=dtype)  # [m, D]
    with forced(kernels):
        compare_with_grads(
            lambda: layer(x, ei, given),
            lambda: dense.gated_gcn(x, ei, every, layer, training_bn=training),
            [x, row] if edge_input == "shared" else [x],
            list(layer.parameters()),
            atol=TOLERANCE[dtype],
        )


@cases
@pytest.mark.parametrize("norm", ["mean", "symmetric"])
def test_gcn_fused_matches_dense(dtype, ids, layout, norm):
    n = 20
    ei = random_graph(n, 90, seed=5, simple=False).to(ids)
    layer = GCNLayer(D, 4, norm=norm).to(dtype)
    x = strided_leaf(n, D, layout, dtype, 1)
    with forced("torch"):
        compare_with_grads(
            lambda: layer(x, ei),
            lambda: dense.gcn(x, ei, layer, "relu", norm),
            [x],
            list(layer.parameters()),
            atol=TOLERANCE[dtype],
        )


@cases
@pytest.mark.parametrize("heads", [1, 3])
def test_graph_attention_fused_matches_dense(dtype, ids, layout, heads):
    n = 20
    ei = random_graph(n, 90, seed=6, simple=False).to(ids)
    layer = GraphAttention(D, heads=heads).to(dtype)
    x = strided_leaf(n, D, layout, dtype, 1)
    with forced("torch"):
        compare_with_grads(
            lambda: layer(x, ei),
            lambda: dense.graph_attention(x, ei, layer),
            [x],
            list(layer.parameters()),
            atol=TOLERANCE[dtype],
        )


DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", ["gated_gcn", "gcn", "graph_attention"])
def test_fused_kernels_on_each_device_equal_the_reference(device, name):
    """On CUDA the PyTorch chunked kernels run (the compiled sweeps are CPU-only): values and gradients."""
    n, m = 40, 300
    ei = random_graph(n, m, seed=9, simple=False).to(device)
    layer = {
        "gated_gcn": lambda: GatedGCNLayer(D),
        "gcn": lambda: GCNLayer(D, D),
        "graph_attention": lambda: GraphAttention(D, heads=2),
    }[name]()
    layer = layer.double().to(device)
    ref = copy.deepcopy(layer)
    ref.impl = "reference"
    x = torch.randn(n, D, dtype=torch.float64, device=device, requires_grad=True)
    e = torch.randn(m, D, dtype=torch.float64, device=device, requires_grad=True)

    def run(module):
        out = module(x, ei, e) if name == "gated_gcn" else (module(x, ei),)
        grads = torch.autograd.grad(sum((o * o).sum() for o in out), [x, e, *module.parameters()], allow_unused=True)
        return [*out, *(g for g in grads if g is not None)]

    with ops.fused_kernels(chunk_rows=64):
        got = run(layer)
    for a, b in zip(got, run(ref)):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-8)
