"""The gated GCN's edge step on the CPU through the compiled sweeps of ``csrc/gated_edges.cpp``.

Same inputs and outputs as :mod:`gatedgcn.ops._gated_torch` (the equations are in :mod:`gatedgcn.ops.gated`),
in four sweeps over the edges instead of a dozen tensor operations per chunk:

    forward    chunk by chunk, ê = C e (a matmul), then per edge: ê += D x_j + E x_i, Σ_j σ(ê_ij), Σ_j σ(ê_ij) ⊙ B x_j
               and the column sums of z = s ⊙ ê, z² (batch statistics); then e' = [e +] ReLU(w ⊙ z + b)
    backward   chunk by chunk, ê again (C e, then per edge += D x_j + E x_i) unless forward's was kept (few edges),
               with Σ g_r, Σ g_r ⊙ z
               (BN); then chunk by chunk: per edge ∂ê (gate, BN and ê paths), with ∂Ex_i and ∂C_b; per edge
               ∂Dx_j += ∂ê, ∂Bx_j += σ ⊙ P_i; ∂e = ∂ê C [+ ∂e'] over ê's rows, ∂C += ∂êᵀ e (matmuls)

with ``w = γ ι``, ``b = β − μ w``, ``ι = 1/√(var + ε)``, ``g_r = ∂e' ⊙ [w ⊙ z + b > 0]``,
``P_i = g_i ⊙ eta_norm_i``.  Every tensor handed to the library is contiguous (the op makes it so) but ∂e',
whose rows the sweeps step through by a row stride: a gradient that is one row broadcast over the edges (``e'.sum()``
in a loss gives strides (0, 0)) is passed as that one row with stride 0 instead of being copied to an ``[E, d]``
tensor (:func:`_rows`); any other layout is made contiguous.  Every node id is checked to lie in ``[0, N)``
before the sweeps read it.  The large outputs come from :func:`gatedgcn.ops._native.empty` (huge pages).

Threads.  The sweeps run on torch's OpenMP threads, in units of work that own ranges of node ids (each unit
handles the edges of its own receivers, or senders), so no two threads write one row and the result does not
depend on scheduling.  A shared machine is the normal case, so the number of parallel regions is kept small
and each is robust to a thread the OS puts off its core:

- at most :data:`MAX_CHUNKS` chunks per pass in forward, :data:`BACKWARD_CHUNKS` in backward (for memory);
- :data:`UNITS_PER_THREAD` units per thread, handed out one at a time (dynamic schedule): a descheduled
  thread holds up one unit, not half the sweep;
- each call looks once at the free cores (:func:`~gatedgcn.ops._cores.free_cores`: the CPUs less the cores the
  other processes used over the last quarter second) and runs on no more threads, its matmuls included (torch's
  thread count is lowered within the call and restored, from :data:`LOWER_TORCH_THREADS_FROM` edge elements): with
  one busy process beside it on two cores, the op runs as its one-thread self instead of waiting at every barrier.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import Tensor

from gatedgcn.errors import GraphError
from gatedgcn.ops import _native, _select
from gatedgcn.ops._batchnorm import affine, backward_coefficients, row_chunks
from gatedgcn.ops._cores import free_cores
from gatedgcn.ops.linear_maps import bucket, gram, product, product_padded
from gatedgcn.ops.segment import inverse_gate_sums

__all__ = ["backward", "forward"]

_SUFFIX = {torch.float32: "f32", torch.float64: "f64"}
# Below this many edge elements per thread a second thread costs more than it saves.
MIN_ELEMENTS_PER_THREAD = 1 << 16
# Units of work per thread in a sweep, handed out one at a time (csrc/gated_edges.cpp): a thread that the OS
# puts off its core holds up one unit, not half the sweep.
UNITS_PER_THREAD = 4
# At most this many chunks of edges per pass: each chunk is a few parallel regions (a sweep, a matmul), and
# under contention every region waits at its barrier for a descheduled thread, so regions are kept few.
MAX_CHUNKS = 8
# From this many edge elements a call lowers torch's own thread count to the free cores for its matmuls; below, the
# sweeps alone run on fewer threads.  On a molecule batch (E·d = 322k) beside a busy process, lowering torch's count
# for the call and raising it after made the whole 2-thread step slower: 80.6, 161.6, 63.8 ms against 69.8, 73.4,
# 55.3 ms without (three round-robin runs of 25-40 steps, 2026-12-02 12:58-13:05); a whole step on fewer threads is
# the trainer's (gatedgcn.train.threads).
LOWER_TORCH_THREADS_FROM = 1 << 22
# Backward in at most this many chunks: its ∂ê buffer of one chunk, and the matmuls' packing buffers, are on top of
# e' and ∂e at the peak of memory (PATTERN-sized batch, one cold step: peak RSS 891 MiB in 32 chunks, 902 in 8).
BACKWARD_CHUNKS = 32


def _threads(elements: int, cores: int) -> tuple[int, int]:
    """Threads and units of work for a sweep over ``elements`` edge elements on at most ``cores`` threads."""
    T = max(1, min(cores, elements // MIN_ELEMENTS_PER_THREAD))
    return T, (1 if T == 1 else UNITS_PER_THREAD * T)


def _usable_threads(elements: int) -> int:
    """torch's threads, less the cores other processes keep busy right now (:func:`~gatedgcn.ops._cores.free_cores`,
    looked at once per call, and only where the sweeps could use more than one thread)."""
    T = torch.get_num_threads()
    return T if T == 1 or elements < 2 * MIN_ELEMENTS_PER_THREAD else min(T, free_cores())


@contextlib.contextmanager
def _torch_threads(n: int, elements: int = LOWER_TORCH_THREADS_FROM) -> Iterator[None]:
    """Within: torch's own ops (the matmuls between the sweeps) on ``n`` threads too, where that is fewer than
    torch's setting and the call has ``elements`` ≥ :data:`LOWER_TORCH_THREADS_FROM`; restored on leaving."""
    before = torch.get_num_threads()
    if n >= before or elements < LOWER_TORCH_THREADS_FROM:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def forward(e, C_w, C_b, Dx, *args):
    """-> e' (``[0, d]`` without ``edge_update``), m, ê, eta_norm, and the μ, var of the edge BN used (arguments as
    :func:`gatedgcn.ops._gated_torch.forward`'s)."""
    args = (e, C_w, C_b, Dx, *args)
    elements = args[6].numel() * Dx.shape[1]  # E · d
    cores = _usable_threads(elements)
    with _torch_threads(cores, elements):
        return _forward(*args, cores=cores)


def backward(*args):
    """-> ∂e (empty unless ``need_de``), ∂C_w, ∂C_b, ∂Dx, ∂Ex, ∂Bx, ∂γ, ∂β."""
    elements = args[9].numel() * args[6].shape[1]  # E · d (j, Dx)
    cores = _usable_threads(elements)
    with _torch_threads(cores, elements):
        return _backward(*args, cores=cores)


def chunk_rows(E: int, step: int, most: int = MAX_CHUNKS) -> int:
    """Rows of one chunk: about ``step`` (the cache-sized chunk), the ``E`` rows cut into equal chunks (a batch of
    1.2 chunks is one chunk, not a chunk and a sliver: each chunk is a sweep and a matmul more), and no more than
    ``most`` of them; exactly the ``step`` that :func:`~gatedgcn.ops.fused_kernels` forces."""
    if _select.forced_chunks():
        return step
    chunks = min(most, max(1, round(E / max(step, 1))))
    return max(1, -(-E // chunks))


def check_ids(j: Tensor, i: Tensor, N: int) -> None:
    """The sweeps index node tables with these ids unchecked: refuse any outside ``[0, N)`` first."""
    for name, ids in (("senders (edge_index[0])", j), ("receivers (edge_index[1])", i)):
        if not ids.numel():
            continue
        lo, hi = (int(v) for v in torch.aminmax(ids))
        if lo < 0 or hi >= N:
            raise GraphError(f"gated_edges: {name} must be node ids in [0, {N}), got ids from {lo} to {hi}")


def _p(t: Tensor | None, row: int = 0) -> int | None:
    """The address of row ``row`` of the contiguous ``t``, or of a node table's rows (:func:`node_tables`; the
    caller holds ``t`` until the kernel returns)."""
    if t is None:
        return None
    assert t.is_contiguous() or (t.dim() == 2 and t.stride(1) == 1)
    return t.data_ptr() + row * (t.stride(0) if t.dim() else 0) * t.element_size()


def node_tables(*tables: Tensor) -> tuple[list[Tensor], int]:
    """The node tables D x, E x, B x ``[N, d]`` as the sweeps read them, and their common row stride: as they are
    where their rows are contiguous and equally far apart (e.g. column blocks of one ``[N, 4d]`` product, stride
    4d), else contiguous copies (stride d)."""
    ld = tables[0].stride(0)
    if all(t.stride(1) == 1 and t.stride(0) == ld for t in tables):
        return list(tables), ld
    return [t.contiguous() for t in tables], tables[0].shape[1]


def _rows(g: Tensor) -> tuple[Tensor, int]:
    """``g`` ``[E, d]`` as the sweeps read it, and its row stride: one contiguous row and 0 where every row is the same
    row (strides (0, 0) or (0, 1)), else ``g`` contiguous and d."""
    if g.shape[0] > 1 and g.stride(0) == 0 and (g.stride(1) in (0, 1) or g.shape[1] == 1):
        return g[0].contiguous(), 0  # [d]
    return g.contiguous(), g.shape[1]


def _fn(name: str, dtype: torch.dtype):
    return getattr(_native.library(), f"{name}_{_SUFFIX[dtype]}")


def _forward(
    e, C_w, C_b, Dx, Ex, Bx, j, i, scale, gamma, beta, mean, var, eps, batch_stats, bn_eps, residual, step,
    edge_update, *, cores
):  # fmt: skip
    (N, d), E = Ex.shape, j.shape[0]
    check_ids(j, i, N)
    (Dx, Bx, Ex), ld = node_tables(Dx, Bx, Ex)
    step = chunk_rows(E, step)
    T, U = _threads(min(E, step) * d, cores)
    # one chunk: ê starts as C e itself; more: C e chunk by chunk into ê
    whole = e is not None and step >= E
    e_hat = product(e, C_w, C_b) if whole else _native.empty(Dx, (E, d))  # [E, d]
    sigma_sum, gated_sum = Ex.new_zeros((N, d)), Ex.new_zeros((N, d))  # Σ_j σ_ij, Σ_j σ_ij ⊙ Bx_j: [N, d]
    # per unit [Σ z | Σ z²] where e' is normalised by the batch's statistics (else none: the sweep sums nothing)
    moments = torch.zeros((U, 2, d), dtype=torch.float64) if edge_update and batch_stats else None
    sweep = _fn("gated_forward", Dx.dtype)
    for r in row_chunks(E, step):
        lo, n = r.start, r.stop - r.start
        if e is not None and not whole:
            torch.addmm(C_b, e[r], C_w.t(), out=e_hat[r])  # C e, then ê in place (no e: the sweep starts at C_b)
        sweep(n, d, _p(e_hat, lo), _p(C_b if e is None else None), _p(Dx), _p(Bx), _p(Ex), ld, _p(j, lo),
              _p(i, lo), _p(scale, lo), T, U, _p(sigma_sum), _p(gated_sum), _p(moments))  # fmt: skip
    eta_norm = inverse_gate_sums(sigma_sum, eps)  # 1 / (Σ_j σ_ij + ε): [N, d]
    m = gated_sum.mul_(eta_norm)  # [N, d]
    if not edge_update:
        return e_hat.new_empty((0, d)), m, e_hat, eta_norm, mean.clone(), var.clone()
    if moments is not None:  # batch_stats
        s = moments.sum(0)  # [2, d]
        mean_d = s[0] / E
        mean, var = mean_d.to(Dx.dtype), (s[1] / E - mean_d * mean_d).clamp_(min=0).to(Dx.dtype)  # [d]
    else:
        mean, var = mean.clone(), var.clone()
    _, w, b = affine(gamma, beta, mean, var, bn_eps)
    e_new = _native.empty(e_hat, (E, d))  # [E, d]
    _fn("gated_norm", Dx.dtype)(
        E, d, _p(e_hat), _p(scale), _p(w), _p(b), _p(e if residual else None), _p(e_new), *_threads(E * d, cores)
    )
    return e_new, m, e_hat, eta_norm, mean, var


def _edge_states(e, C_w, C_b, Dx, Ex, ld, j, i, scale, w, b, g, gs, step, T, U, kept):
    """ê ``[E, d]``: ``kept`` (forward's, read only), or recomputed chunk by chunk; and per unit
    [Σ g_r | Σ g_r ⊙ z] ``[U, 2, d]`` (zeros without g)."""
    E, d = j.shape[0], Dx.shape[1]
    e_hat = _native.empty(Dx, (E, d)) if kept is None else kept  # [E, d]
    sums = torch.zeros((U, 2, d), dtype=torch.float64)  # per unit [Σ g_r | Σ g_r ⊙ z]
    if kept is not None and g is None:
        return e_hat, sums
    states = _fn("gated_backward_states", Dx.dtype)
    # with D x and E x given the sweep adds them to ê's rows (C e + C_b on entry); without, it only reads the kept ê
    Dx, Ex = (Dx, Ex) if kept is None else (None, None)
    for r in row_chunks(E, step):
        lo, n = r.start, r.stop - r.start
        if kept is None and e is not None:
            torch.addmm(C_b, e[r], C_w.t(), out=e_hat[r])  # C e, then ê in place (no edge state: from C_b)
        states(n, d, _p(e_hat, lo), _p(C_b if kept is None and e is None else None), _p(Dx), _p(Ex), ld, _p(j, lo),
               _p(i, lo), _p(scale, lo), _p(w), _p(b), _p(g, lo if gs else 0), gs, T, U, _p(sums))  # fmt: skip
    return e_hat, sums


def _backward(
    g_e_new, g_m, g_e_hat, e, C_w, C_b, Dx, Ex, Bx, j, i, eta_norm, m, kept, scale, gamma, beta, mean, var,
    batch_stats, bn_eps, residual, step, need_de, *, cores
):  # fmt: skip
    (N, d), E = Bx.shape, j.shape[0]
    check_ids(j, i, N)
    (Dx, Ex, Bx), ld = node_tables(Dx, Ex, Bx)
    step = chunk_rows(E, step, BACKWARD_CHUNKS)
    dtype, (T, U) = Bx.dtype, _threads(min(E, step) * d, cores)
    invstd, w, b = affine(gamma, beta, mean, var, bn_eps)
    g, gs = (None, 0) if g_e_new is None else _rows(g_e_new)  # ∂e' as the sweeps read it, its row stride
    e_hat, sums = _edge_states(e, C_w, C_b, Dx, Ex, ld, j, i, scale, w, b, g, gs, step, T, U, kept)  # ê: [E, d]
    if g is not None:
        s = sums.sum(0).to(dtype)  # [2, d]
        d_beta = s[0]
        d_gamma, c1, c2 = backward_coefficients(invstd, w, mean, d_beta, s[1], E, batch_stats)  # [d]
    else:  # no gradient through e': no BN terms (the sweep reads no c1, c2)
        d_gamma, d_beta = gamma.new_zeros(d), gamma.new_zeros(d)
        c1 = c2 = d_beta
    if g_m is None:
        PQ = eta_norm.new_zeros((N, 2 * d))  # [P | P ⊙ m], P = g ⊙ eta_norm: [N, 2d]
    else:
        PQ = eta_norm.new_empty((N, 2 * d))
        torch.mul(torch.mul(g_m, eta_norm, out=PQ[:, :d]), m, out=PQ[:, d:])
    one_chunk = step >= E  # then ∂e and ∂C are products of the whole ∂ê (oneDNN's where it pays), not chunk by chunk
    # ∂e: over the recomputed ê (row r overwritten once chunk r is done with it), or a new [E, d] beside the kept one
    # (one chunk: the product itself, None till then)
    de = e_hat if kept is None else (None if one_chunk else _native.empty(e_hat, e_hat.shape))
    dC_w, C_wT = C_w.new_zeros((d, d)), C_w.t().contiguous()  # ∂C, and Cᵀ for ∂e = ∂ê C (one chunk)
    dC_b = torch.zeros((U, d), dtype=torch.float64)
    dDx, dEx, dBx = (Bx.new_zeros((N, d)) for _ in range(3))  # [N, d] each
    # ∂ê of one chunk (more chunks than forward: a smaller buffer), with room for the zero rows that pad it
    de_hat = e_hat.new_empty((bucket(min(E, step)), d))
    receivers_sweep, senders_sweep = _fn("gated_backward_receivers", dtype), _fn("gated_backward_senders", dtype)
    for r in row_chunks(E, step):
        lo, n = r.start, r.stop - r.start
        dh = de_hat[:n]  # [n, d]
        de_hat[n : bucket(n)].zero_()  # the padding rows of this chunk (linear_maps.product_padded, gram)
        receivers_sweep(n, d, _p(e_hat, lo), _p(Bx), ld, _p(PQ), _p(j, lo), _p(i, lo), _p(scale, lo), _p(g, lo if gs else 0),
                        gs, _p(w), _p(b), _p(c1), _p(c2), _p(g_e_hat, lo), T, U, _p(dh), _p(dEx), _p(dC_b))  # fmt: skip
        senders_sweep(n, d, _p(e_hat, lo), _p(dh), _p(PQ), _p(j, lo), _p(i, lo), T, U, _p(dDx), _p(dBx))
        if need_de and de is None:  # one chunk: ∂ê C [E, d] on oneDNN where it pays, + ∂e' (the residual)
            de = product_padded(de_hat, n, C_wT)
            if residual and g is not None:
                de.add_(g if gs == 0 else g[r])
        elif need_de and residual and g is not None:  # chunks: torch's matmul writes ∂ê C + ∂e' into its rows
            torch.addmm(g if gs == 0 else g[r], dh, C_w, out=de[r])
        elif need_de:
            torch.mm(dh, C_w, out=de[r])
        if e is not None and one_chunk:
            dC_w.add_(gram(e[r], de_hat, n))  # ∂êᵀ e
        elif e is not None:
            dC_w.addmm_(dh.t(), e[r])
    if not need_de or de is None:  # (None: no edges, no chunk)
        de = e_hat.new_zeros((E, d) if need_de else (0,))
    return de, dC_w, dC_b.sum(0).to(dtype), dDx, dEx, dBx, d_gamma, d_beta
