"""The compiled CPU kernels (gatedgcn.ops._native, gatedgcn.ops._gated_native): building, threads, float32, falling back.

Their equations are checked against the reference layer and by gradcheck in test_fast_path.py
(the ``gated_backend`` fixture runs those tests with the compiled and the PyTorch kernels).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gatedgcn import ops
from gatedgcn.nn import BatchNorm
from gatedgcn.ops import _gated_native as gated_native
from gatedgcn.ops import _native as native
from gatedgcn.ops import _select

needs_library = pytest.mark.skipif(
    native._compiler() is None, reason="no C++ compiler: the compiled kernels cannot be built here"
)


@pytest.fixture(autouse=True)
def _compiled_on():
    """The fused kernels at every size, the compiled ones where they can run."""
    with ops.fused_kernels(chunk_rows=None):
        yield


def edge_inputs(n, E, d, dtype, seed=0, skew=False):
    """Leaves e, C_w, C_b, Dx, Ex, Bx and an edge_index; ``skew``: half the edges go to node 0 (unbalanced threads)."""
    g = torch.Generator().manual_seed(seed)
    leaves = [
        torch.randn(*shape, generator=g, dtype=torch.float64).to(dtype).requires_grad_()
        for shape in [(E, d), (d, d), (d,), (n, d), (n, d), (n, d)]
    ]
    ei = torch.randint(0, n, (2, E), generator=g)
    if skew:
        ei[1, : E // 2] = 0
    return leaves, ei


def run_edges(leaves, ei, bn=None, scale=None):
    """e', m, ê and the gradients of a random linear loss of all three w.r.t. the leaves and bn's γ, β."""
    for t in leaves:
        t.grad = None
    e_new, m, e_hat = ops.gated_edges(*leaves, ei, 1e-6, bn, scale, residual=True)
    g = torch.Generator().manual_seed(9)
    weights = [torch.randn(t.shape, generator=g, dtype=torch.float64).to(t.dtype) for t in (e_new, m, e_hat)]
    sum((t * w).sum() for t, w in zip((e_new, m, e_hat), weights)).backward()
    grads = [t.grad.clone() for t in leaves]
    if bn is not None:
        grads += [bn.weight.grad.clone(), bn.bias.grad.clone()]
        bn.zero_grad()
    return [e_new.detach(), m.detach(), e_hat.detach(), *grads]


@needs_library
def test_the_compiled_kernels_run_on_the_cpu_for_float32_and_float64(monkeypatch):
    calls = []
    forward = gated_native.forward
    monkeypatch.setattr(gated_native, "forward", lambda e, *a: calls.append(e.dtype) or forward(e, *a))
    for dtype in (torch.float32, torch.float64):
        leaves, ei = edge_inputs(20, 100, 4, dtype)
        run_edges(leaves, ei)
    assert calls == [torch.float32, torch.float64]
    leaves, ei = edge_inputs(20, 100, 4, torch.bfloat16)  # no half kernels: the PyTorch version runs
    assert not _select.compiled(10**9, *leaves)
    run_edges(leaves, ei)
    assert calls == [torch.float32, torch.float64]


@needs_library
@pytest.mark.parametrize("skew", [False, True])
def test_threads_split_the_nodes_and_give_the_one_thread_result(monkeypatch, skew):
    """Two and three threads (units owning ranges of node ids) give the one-thread values, even when one node has half the edges."""
    monkeypatch.setattr(gated_native, "MIN_ELEMENTS_PER_THREAD", 1)
    monkeypatch.setattr(gated_native, "free_cores", lambda: 64)  # as on an idle machine with many cores
    leaves, ei = edge_inputs(50, 3000, 6, torch.float64, skew=skew)
    bn = BatchNorm(6).double()
    scale = torch.rand(3000, dtype=torch.float64) + 0.5
    threads = torch.get_num_threads()
    try:
        results = []
        for T in (1, 2, 3):
            torch.set_num_threads(T)
            results.append(run_edges(leaves, ei, bn, scale))
    finally:
        torch.set_num_threads(threads)
    for other in results[1:]:
        for a, b in zip(results[0][1:3], other[1:3]):
            assert torch.equal(a, b)  # m, ê: per-node sums in edge order, whatever the threads
        for a, b in zip(results[0][:1] + results[0][3:], other[:1] + other[3:]):
            torch.testing.assert_close(a, b, rtol=1e-13, atol=1e-13)  # BN's column sums are added per thread


@needs_library
def test_float32_values_and_gradients_match_float64():
    """The compiled σ (a polynomial e^x) and the double-precision column sums keep float32 close to float64."""
    leaves64, ei = edge_inputs(200, 5000, 8, torch.float64, seed=3)
    leaves32 = [t.detach().float().requires_grad_() for t in leaves64]
    bn64, bn32 = BatchNorm(8).double(), BatchNorm(8)
    for want, got in zip(run_edges(leaves64, ei, bn64), run_edges(leaves32, ei, bn32)):
        torch.testing.assert_close(got.double(), want, rtol=1e-4, atol=1e-4 * float(want.abs().max()))


@needs_library
@pytest.mark.parametrize("offset", [0.0, 100.0])
def test_float32_batch_statistics_of_the_edges_keep_float64_precision_beside_a_large_mean(offset):
    """The edge BN's variance is E[z²] − μ²: with ê ≈ 100 ± a few it cancels 10⁴ to ~4, and sums of z, z² kept in
    float32 would lose it (5e-3 relative over these 5,000 edges, 4e-5 for float32 partial sums of 32 rows); the sweeps
    add every row in double, and the variance of float32 inputs stays within 1e-6 of float64's."""
    leaves64, ei = edge_inputs(200, 5000, 8, torch.float64, seed=3)
    with torch.no_grad():
        leaves64[4] += offset  # E x: every ê shifted
    leaves32 = [t.detach().float().requires_grad_() for t in leaves64]
    bn64, bn32 = BatchNorm(8).double(), BatchNorm(8)
    run_edges(leaves64, ei, bn64)
    run_edges(leaves32, ei, bn32)
    m = bn64.momentum  # running = (1 - m) · initial + m · batch
    var64, var32 = ((bn.running_var.double() - (1 - m)) / m for bn in (bn64, bn32))  # the batch variances: [8]
    mean64, mean32 = (bn.running_mean.double() / m for bn in (bn64, bn32))
    assert float(((var32 - var64) / var64).abs().max()) < 1e-6
    torch.testing.assert_close(mean32, mean64, rtol=1e-6, atol=1e-6)


@needs_library
def test_sigmoid_saturates_without_nan_and_passes_nan_through():
    """ê of ±200 (beyond e^x's range in float32) gives σ = 0 or 1 exactly as η needs; a NaN input stays NaN."""
    d = 2
    Dx = torch.tensor([[200.0, -200.0], [0.0, float("nan")]])  # ê of the edges from senders 0 and 1
    zero = torch.zeros(2, d)
    ei = torch.tensor([[0, 1], [1, 1]])
    e_new, m, _ = ops.gated_edges(zero, torch.zeros(d, d), torch.zeros(d), Dx, zero, torch.ones(2, d), ei, 0.0)
    # node 1 receives both edges: η = σ / Σσ, and m = Σ η ⊙ B x_j = 1 where finite
    assert m[1, 0].item() == pytest.approx(1.0) and torch.isnan(m[1, 1])
    assert torch.isfinite(e_new[0]).all() and torch.isnan(e_new[1, 1])


def test_a_failed_build_warns_once_and_falls_back(monkeypatch, tmp_path):
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
    monkeypatch.setattr(native.shutil, "which", lambda name: None)
    monkeypatch.setenv("GATEDGCN_NATIVE_DIR", str(tmp_path / "cache"))
    native._load.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match="no C.. compiler"):
            assert native.library() is None
        leaves, ei = edge_inputs(10, 40, 3, torch.float64)
        assert all(torch.isfinite(t).all() for t in run_edges(leaves, ei))  # the PyTorch kernels ran
    finally:
        native._load.cache_clear()


@pytest.mark.parametrize("value, on", [("0", False), ("off", False), ("No", False), ("1", True), (None, True)])
def test_the_setting_is_read_once(monkeypatch, value, on):
    native.enabled.cache_clear()
    try:
        if value is None:
            monkeypatch.delenv("GATEDGCN_NATIVE", raising=False)
        else:
            monkeypatch.setenv("GATEDGCN_NATIVE", value)
        assert native.enabled() is on
        monkeypatch.setenv("GATEDGCN_NATIVE", "1" if not on else "0")  # changed later: not read again
        assert native.enabled() is on
    finally:
        native.enabled.cache_clear()


@needs_library
def test_a_compiler_without_openmp_builds_sweeps_that_run_one_after_another(monkeypatch, tmp_path):
    monkeypatch.setenv("GATEDGCN_NATIVE_DIR", str(tmp_path))
    monkeypatch.setattr(native, "OPENMP", ("-fno-such-openmp-option",))  # the OpenMP build fails
    monkeypatch.setattr(gated_native, "MIN_ELEMENTS_PER_THREAD", 1)
    monkeypatch.setattr(gated_native, "free_cores", lambda: 64)
    leaves, ei = edge_inputs(50, 3000, 6, torch.float64)
    threads = torch.get_num_threads()
    native._load.cache_clear()
    try:
        torch.set_num_threads(2)
        assert native.library() is not None and len(list(tmp_path.glob("*/*.so"))) == 1
        sequential = run_edges(leaves, ei, BatchNorm(6).double())
        with ops.fused_kernels(chunk_rows=None, compiled=False):
            torch_kernels = run_edges(leaves, ei, BatchNorm(6).double())
        for a, b in zip(sequential, torch_kernels):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)  # the same as the PyTorch kernels
    finally:
        torch.set_num_threads(threads)
        native._load.cache_clear()


@needs_library
def test_the_build_is_cached_by_source_and_rebuilt_when_it_changes(monkeypatch, tmp_path):
    monkeypatch.setenv("GATEDGCN_NATIVE_DIR", str(tmp_path))
    first = native.build()
    stamp = first.stat().st_mtime_ns
    assert native.build() == first and first.stat().st_mtime_ns == stamp  # cached: not compiled again
    changed = tmp_path / "changed.cpp"
    changed.write_text(native.SOURCE.read_text() + "\n// a changed source\n")
    monkeypatch.setattr(native, "SOURCE", changed)
    second = native.build()
    assert second != first and second.exists()
    assert not list(tmp_path.glob("*/*.so.tmp*")) and len(list(tmp_path.glob("*/*"))) == 2  # no temporary left


@needs_library
def test_node_ids_out_of_range_are_refused_before_the_compiled_code_reads_them():
    from gatedgcn.errors import GraphError

    leaves, ei = edge_inputs(10, 40, 3, torch.float64)
    for bad in (10, -1):
        wrong = ei.clone()
        wrong[1, 5] = bad
        with pytest.raises(GraphError, match=r"receivers \(edge_index\[1\]\) must be node ids in \[0, 10\)"):
            ops.gated_edges(*leaves, wrong, 1e-6)
    for a, b in zip(run_edges(leaves, ei.int()), run_edges(leaves, ei)):  # int32 ids are widened, not misread
        assert torch.equal(a, b)


@needs_library
@pytest.mark.parametrize("used", [("m",), ("e_new",), ("e_hat",), ("m", "e_hat")])
def test_gradients_when_only_some_outputs_are_used_match_the_pytorch_kernels(monkeypatch, used):
    """Outputs without a gradient reach backward as None (e.g. e' of the last layer of a node task)."""
    leaves, ei = edge_inputs(30, 400, 4, torch.float64, seed=5)
    bn = BatchNorm(4).double()

    def grads():
        for t in leaves:
            t.grad = None
        out = dict(zip(("e_new", "m", "e_hat"), ops.gated_edges(*leaves, ei, 1e-6, bn, None, residual=True)))
        sum(out[name].sin().sum() for name in used).backward()
        got = [t.grad for t in leaves] + [bn.weight.grad, bn.bias.grad]
        bn.zero_grad(set_to_none=True)
        return got

    compiled = grads()
    with ops.fused_kernels(chunk_rows=None, compiled=False):
        torch_kernels = grads()
    for a, b in zip(compiled, torch_kernels):
        if b is None or not b.abs().max() > 0:  # no path from the used outputs
            assert a is None or not a.abs().max() > 0
        else:
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@needs_library
def test_a_declaration_that_disagrees_with_the_library_is_refused(monkeypatch, tmp_path):
    """The loader's one declaration of the interface is checked against the functions' own argument types."""
    monkeypatch.setenv("GATEDGCN_NATIVE_DIR", str(tmp_path))
    wrong = dict(native.SIGNATURES, gated_norm=native.SIGNATURES["gated_norm"][:-1])  # one argument short
    monkeypatch.setattr(native, "SIGNATURES", wrong)
    native._load.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match=r"gated_norm_f32 takes \(qqppppppii\), the loader declares"):
            assert native.library() is None
    finally:
        native._load.cache_clear()
    monkeypatch.undo()
    assert native.library() is not None


def test_without_a_compiler_on_the_path_the_pytorch_kernels_run(tmp_path):
    """A fresh process whose PATH holds no C++ compiler: one warning, then the PyTorch kernels, equal to the reference."""
    script = """
import copy, warnings, torch
from gatedgcn import ops
from gatedgcn.nn import GatedGCNLayer
layer = GatedGCNLayer(4).double()
ref = copy.deepcopy(layer); ref.impl = "reference"
x, e = torch.randn(30, 4, dtype=torch.float64), torch.randn(200, 4, dtype=torch.float64, requires_grad=True)
ei = torch.randint(0, 30, (2, 200))
with warnings.catch_warnings(record=True) as caught, ops.fused_kernels():
    warnings.simplefilter("always")
    h, e_new = layer(x, ei, e)
    (g,) = torch.autograd.grad((h * h).sum() + (e_new * e_new).sum(), [e])
assert any("no C++ compiler" in str(w.message) for w in caught), [str(w.message) for w in caught]
h_r, e_r = ref(x, ei, e)
(g_r,) = torch.autograd.grad((h_r * h_r).sum() + (e_r * e_r).sum(), [e])
for a, b in ((h, h_r), (e_new, e_r), (g, g_r)):
    torch.testing.assert_close(a, b)
print("ok")
"""
    env = {k: v for k, v in os.environ.items() if k not in ("CXX", "GATEDGCN_NATIVE")}
    env |= {"PATH": str(Path(sys.executable).parent), "GATEDGCN_NATIVE_DIR": str(tmp_path)}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[1] / "src"), env.get("PYTHONPATH", "")])
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-2000:]
    assert not list(tmp_path.iterdir())  # nothing was built


def test_importing_builds_nothing(tmp_path):
    """Importing gatedgcn registers its ops with torch and does nothing else: no build, no library loaded."""
    script = (
        "import gatedgcn, gatedgcn.nn, gatedgcn.model\n"
        "from gatedgcn.ops import _native\n"
        "assert _native._load.cache_info().currsize == 0 and _native.enabled.cache_info().currsize == 0\n"
        "import torch; assert torch.ops.gatedgcn.gated_edges.default is not None\n"
        "print('ok')\n"
    )
    env = dict(os.environ, GATEDGCN_NATIVE_DIR=str(tmp_path))
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[1] / "src"), env.get("PYTHONPATH", "")])
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-2000:]
    assert not list(tmp_path.iterdir())


def test_large_outputs_ask_for_huge_pages_on_the_whole_pages_inside_them(monkeypatch):
    calls = []
    monkeypatch.setattr(native, "_madvise", lambda: lambda start, size, advice: calls.append((start, size, advice)))
    like = torch.zeros(3, dtype=torch.float64)
    big = native.empty(like, (native.HUGE_MIN_BYTES // 8 + 7, 1))  # just over the size: [rows, 1] float64
    small = native.empty(like, (1000, 3))
    assert big.shape == (native.HUGE_MIN_BYTES // 8 + 7, 1) and big.dtype == torch.float64 and small.shape == (1000, 3)
    ((start, size, advice),) = calls  # the small one asks for nothing
    page = 2 << 20
    assert advice == 14 and start % page == 0 and size % page == 0 and size > 0
    assert big.data_ptr() <= start and start + size <= big.data_ptr() + big.nbytes
