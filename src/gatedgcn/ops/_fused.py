"""Fast paths of the family's sparse steps: fused autograd functions that stream the edges in chunks.

On a CPU the layers of the family are not limited by arithmetic but by passes over fresh
edge-sized ``[E, d]`` tensors: every new tensor of that size is page-faulted in before it is
written, and every elementwise step of the straightforward code is such a tensor.  The
functions here compute the same equations as :mod:`gatedgcn.ops` and the layers' reference
code, but walk over the edges in chunks of a few thousand rows with small reused work
buffers (which stay in cache), allocate no edge-sized tensor except the ones they return,
and recompute the cheap per-edge values (``σ``, gathers) in backward instead of storing them.

- :func:`gated_edges`         ``ê = C e + D x_j + E x_i``, ``m_i = Σ_j η_ij ⊙ B x_j``, ``e' = e + ReLU(BN(ê))``
- :func:`norm_relu_residual`  ``y = r + ReLU(BN(s ⊙ t))`` with batch or running statistics
- :func:`gather_scatter`      ``out_i = Σ_{j→i} w_ij x_j`` (GCN, graph attention)
- :func:`edge_dot`            ``s_ij = q_i · k_j`` (graph attention scores)

On the CPU, :func:`gated_edges` runs the compiled kernels of :mod:`gatedgcn.ops._gated_native`
where they can be built (unless ``GATEDGCN_NATIVE=0``); otherwise, and on other devices, the PyTorch
version here.  The large outputs come from :mod:`gatedgcn.ops._memory`'s pool of reused blocks.
All are first-order differentiable (``torch.autograd.gradcheck`` in the tests) and run on
any device; the layers' ``impl="fast"`` (the default) selects them when :func:`worth_fusing`.
"""

from __future__ import annotations

from typing import Iterator

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from gatedgcn.ops import _memory as memory
from gatedgcn.ops import _native as native
from gatedgcn.ops._gated_native import NativeGatedEdges, supports
from gatedgcn.ops._common import (
    affine,
    backward_coefficients,
    e_hat_for_backward,
    keep_e_hat,
    recompute_e_hat,
    row_chunks,
)

__all__ = [
    "IMPLS",
    "FUSED_MIN_ELEMENTS",
    "COMPILED_MIN_ELEMENTS",
    "worth_fusing",
    "compiled_for",
    "update_running",
    "gated_edges",
    "norm_relu_residual",
    "gather_scatter",
    "edge_dot",
]

IMPLS = ("fast", "reference")


# Elements of one chunk: cache-sized on a CPU, large enough on a GPU to keep the device busy.
CHUNK_ELEMENTS = {"cpu": 1 << 19, "cuda": 1 << 24}
# Below this many elements in an edge tensor the plain code is as fast (small fresh tensors come
# from reused memory; see docs/performance.md), so impl="fast" runs it there.
FUSED_MIN_ELEMENTS = 1 << 22


def _native():
    """The compiled CPU kernels (:mod:`gatedgcn.ops._native`), or None: then the PyTorch versions below run."""
    return native.library()


# The gated layer's compiled kernels (CPU) gain from about this size on (docs/performance.md: equal to
# the plain code at 2^16 elements, 1.5× faster at 2^17, 1.7× at 2^18).
COMPILED_MIN_ELEMENTS = 1 << 16


def worth_fusing(edges: int, width: int, compiled: bool = False) -> bool:
    """Whether the fused kernels pay for ``[edges, width]`` edge tensors (``compiled``: the gated
    layer's compiled kernels would run, see :func:`compiled_for`)."""
    return edges * width >= (COMPILED_MIN_ELEMENTS if compiled else FUSED_MIN_ELEMENTS)


def compiled_for(*tensors: Tensor) -> bool:
    """Whether :func:`gated_edges` runs the compiled kernels on these tensors."""
    return _native() is not None and supports(*tensors)


def _step(width: int, device: torch.device) -> int:
    return max(64, CHUNK_ELEMENTS.get(device.type, 1 << 24) // max(width, 1))


def _chunks(rows: int, width: int, device: torch.device) -> Iterator[slice]:
    """Consecutive row ranges of about ``CHUNK_ELEMENTS`` elements of a ``width``-wide tensor."""
    return row_chunks(rows, _step(width, device))


def _buffers(count: int, rows: int, width: int, like: Tensor) -> list[Tensor]:
    """``count`` reusable ``[step, width]`` work buffers for :func:`_chunks` of ``rows`` rows."""
    step = min(rows, _step(width, like.device))
    return [memory.empty((step, width), like) for _ in range(count)]


# ----------------------------------------------------------------------------- batch norm, ReLU, residual


def _batch_moments(z_of, rows: int, width: int, like: Tensor) -> tuple[Tensor, Tensor]:
    """Column mean and biased variance of the rows ``z_of(r)``, combined chunk by chunk (stable)."""
    counts, means, m2s = [], [], []
    (a,) = _buffers(1, rows, width, like)
    for r in _chunks(rows, width, like.device):
        n = r.stop - r.start
        z = z_of(r)  # [n, d]
        mean = z.sum(0) / n  # [d]
        dev = torch.sub(z, mean, out=a[:n])  # [n, d]
        counts.append(n)
        means.append(mean)
        m2s.append(dev.mul_(dev).sum(0))
    n_c = like.new_tensor(counts).unsqueeze(1)  # [K, 1]
    means_c, m2_c = torch.stack(means), torch.stack(m2s)  # [K, d]
    mean = (n_c * means_c).sum(0) / rows  # [d]
    m2 = (m2_c + n_c * (means_c - mean) ** 2).sum(0)  # [d]
    return mean, m2 / rows


class _Norm:
    """``y = r + ReLU(z w + b)``, ``z = s ⊙ t``, ``w = γ ι``, ``b = β − μ w``, ``ι = 1/√(var + ε)``, chunk by chunk.

    μ and var are the batch's (``batch_stats``) or given.  Only ``t`` (the caller's tensor) and
    ``[d]`` vectors are kept; the ReLU mask is recomputed.  With ``g_r = g ⊙ [z w + b > 0]`` and
    ``R`` rows: ``∂β = Σ g_r``, ``∂γ = ι (Σ g_r ⊙ z − μ ∂β)``, and
    ``∂z = w g_r − w ∂β / R − w ι ∂γ (z − μ) / R`` with batch statistics, ``∂z = w g_r`` without.
    """

    def __init__(self, t, scale, gamma, beta, mean, var, batch_stats, eps):
        """``mean`` None: the batch's μ and var (then ``batch_stats`` must be True)."""
        R, d = t.shape
        self.t, self.scale, self.gamma, self.beta, self.batch_stats, self.eps = t, scale, gamma, beta, batch_stats, eps
        (self.zb,) = _buffers(1, R, d, t)
        if mean is None:
            mean, var = _batch_moments(self.z, R, d, t)
        self.mean, self.var = mean, var  # [d]
        self.invstd, self.w, self.b = affine(gamma, beta, mean, var, eps)  # ι, w, b: [d]

    def z(self, r: slice) -> Tensor:
        """``s ⊙ t`` of rows r: ``[n, d]``."""
        t = self.t[r]
        return t if self.scale is None else torch.mul(t, self.scale[r].unsqueeze(1), out=self.zb[: r.stop - r.start])

    def forward(self, res: Tensor | None) -> Tensor:
        R, d = self.t.shape
        y = memory.empty((R, d), self.t)  # [R, d]
        for r in _chunks(R, d, self.t.device):
            out = torch.addcmul(self.b, self.z(r), self.w, out=y[r]).relu_()
            if res is not None:
                out.add_(res[r])
        return y

    def backward_sums(self, g: Tensor) -> tuple[Tensor, Tensor]:
        """``∂γ, ∂β`` for the output gradient ``g``; keeps what :meth:`grad` needs."""
        R, d = self.t.shape
        self.g, self.gb = g, _buffers(1, R, d, self.t)[0]
        d_beta, gz = self.gamma.new_zeros(d), self.gamma.new_zeros(d)  # Σ g_r, Σ g_r ⊙ z
        for r in _chunks(R, d, self.t.device):
            z = self.z(r)
            g_r = self._g_r(r, z)
            d_beta.add_(g_r.sum(0))
            gz.add_(g_r.mul_(z).sum(0))
        d_gamma, self.c1, self.c2 = backward_coefficients(
            self.invstd, self.w, self.mean, d_beta, gz, R, self.batch_stats
        )  # [d]
        return d_gamma, d_beta

    def _g_r(self, r: slice, z: Tensor) -> Tensor:
        pre = torch.addcmul(self.b, z, self.w, out=self.gb[: r.stop - r.start])  # [n, d]
        return pre.clamp_(min=0).sign_().mul_(self.g[r])  # g ⊙ [pre > 0]

    def grad(self, r: slice, out: Tensor) -> Tensor:
        """``∂t`` of rows r, written into ``out`` ``[n, d]`` (after :meth:`backward_sums`)."""
        z = self.z(r)
        torch.mul(self._g_r(r, z), self.w, out=out).sub_(self.c1).addcmul_(z, self.c2, value=-1)  # ∂z
        return out if self.scale is None else out.mul_(self.scale[r].unsqueeze(1))


def _norm_arguments(bn: torch.nn.BatchNorm1d | None, t: Tensor) -> tuple:
    """``(γ, β, μ, var, batch_stats, ε)`` of ``bn`` for rows ``t``, as the project's BatchNorm uses them.

    Batch statistics in training (and without running statistics), running statistics in
    evaluation or for fewer than two rows; ``bn`` None is the identity (γ = 1, β = 0, μ = var = 0, ε = 1).
    """
    d = t.shape[1]
    if bn is None:
        return t.new_ones(d), t.new_zeros(d), t.new_zeros(d), t.new_zeros(d), False, 1.0
    gamma = bn.weight if bn.affine else t.new_ones(d)
    beta = bn.bias if bn.affine else t.new_zeros(d)
    batch_stats = (bn.training or bn.running_mean is None) and t.shape[0] >= 2
    mean = bn.running_mean if bn.running_mean is not None else t.new_zeros(d)
    var = bn.running_var if bn.running_var is not None else t.new_ones(d)
    return gamma, beta, mean, var, batch_stats, bn.eps


@torch.no_grad()
def update_running(bn: torch.nn.BatchNorm1d | None, batch_stats: bool, mean: Tensor, var: Tensor, rows: int) -> None:
    """Blend the batch's ``mean`` and biased ``var`` into ``bn``'s running statistics as ``nn.BatchNorm1d`` does."""
    if bn is None or not (batch_stats and bn.training and bn.track_running_stats):
        return
    bn.num_batches_tracked.add_(1)
    f = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
    bn.running_mean.mul_(1 - f).add_(mean, alpha=f)
    bn.running_var.mul_(1 - f).add_(var * (rows / (rows - 1)), alpha=f)


def _save_norm(ctx, norm: _Norm, *more: Tensor) -> None:
    """Save what rebuilds ``norm`` in backward but its rows ``t`` (through ``save_for_backward``: no reference
    cycles), then ``more``."""
    ctx.norm_flags = (norm.batch_stats, norm.eps)
    ctx.save_for_backward(norm.scale, norm.gamma, norm.beta, norm.mean, norm.var, *more)


def _load_norm(ctx, t: Tensor, saved: tuple) -> _Norm:
    return _Norm(t, *saved[:5], *ctx.norm_flags)


class _NormReLUResidual(torch.autograd.Function):
    """``y = r + ReLU(BN(s ⊙ t))`` (see :class:`_Norm`); also returns the batch's μ and var."""

    @staticmethod
    def forward(ctx, t, res, scale, gamma, beta, mean, var, batch_stats, eps):
        norm = _Norm(t, scale, gamma, beta, None if batch_stats else mean, var, batch_stats, eps)
        ctx.has_res = res is not None
        _save_norm(ctx, norm, t)
        ctx.mark_non_differentiable(norm.mean, norm.var)
        return norm.forward(res), norm.mean, norm.var

    @staticmethod
    @once_differentiable
    def backward(ctx, g, _g_mean, _g_var):
        saved = ctx.saved_tensors
        norm = _load_norm(ctx, saved[5], saved)
        d_gamma, d_beta = norm.backward_sums(g)
        dt = None
        if ctx.needs_input_grad[0]:
            R, d = norm.t.shape
            dt = memory.empty((R, d), norm.t)  # [R, d]
            for r in _chunks(R, d, norm.t.device):
                norm.grad(r, dt[r])
        return dt, g if ctx.has_res else None, None, d_gamma, d_beta, None, None, None, None


def norm_relu_residual(
    t: Tensor, res: Tensor | None, bn: torch.nn.BatchNorm1d | None, scale: Tensor | None = None
) -> Tensor:
    """``y = res + ReLU(BN(scale ⊙ t))`` in one pass (``res`` None: no residual; ``bn`` None: no BN).

    ``bn`` behaves as the project's :class:`~gatedgcn.nn.BatchNorm`: batch statistics in training
    (running statistics updated as ``nn.BatchNorm1d`` does), running statistics in evaluation or
    when fewer than two rows are given.  ``scale`` (a per-row factor) gets no gradient.
    Shapes: t ``[R, d]``, res ``[R, d]`` or None, scale ``[R]`` or None -> ``[R, d]``.
    """
    gamma, beta, mean, var, batch_stats, eps = _norm_arguments(bn, t)
    y, mean_b, var_b = _NormReLUResidual.apply(t.contiguous(), res, scale, gamma, beta, mean, var, batch_stats, eps)
    update_running(bn, batch_stats, mean_b, var_b, t.shape[0])
    return y


# ----------------------------------------------------------------------------- gated GCN


class _GatedEdges(torch.autograd.Function):
    """The gated GCN's edge pass, then ``e' = r + ReLU(BN(s ⊙ ê))`` on the edges (:class:`_Norm`).

    ``ê = e Cᵀ + c + Dx[j] + Ex[i]``; ``m_i = (Σ_j σ(ê_ij) ⊙ Bx_j) / (Σ_j σ(ê_ij) + ε)``.
    Saves ``e``, ``ê`` and ``[N, ·]`` tensors; ``σ``, ``η``, the gathers and ``∂ê`` are never
    stored but recomputed chunk by chunk.  With ``g = ∂L/∂m`` and ``ι = 1 / (Σ_k σ(ê_ik) + ε)``:
    ``∂L/∂ê_ij = g_i ι_i ⊙ (Bx_j − m_i) ⊙ σ_ij (1 − σ_ij)`` (+ the BN path), ``∂L/∂Bx_j = Σ_i σ_ij ⊙ g_i ι_i``.
    Tensors indexed by the same node sit side by side (``[Dx | Bx]``, ``[P | Q]``): one gather moves both.
    Outputs e', m, ê (with ``return_e_hat``, for η; else an empty tensor, and backward writes ∂e over ê:
    :func:`~gatedgcn.ops._common.keep_e_hat`) and the batch's μ, var of the edge BN.
    """

    @staticmethod
    def forward(
        ctx, e, C_w, C_b, DBx, Ex, j, i, eps, scale, gamma, beta, mean, var, batch_stats, bn_eps, residual, return_e_hat
    ):
        ctx.set_materialize_grads(False)
        E, d = e.shape
        N = Ex.shape[0]
        e_hat = memory.empty((E, d), e)  # [E, d]
        total, numer = memory.zeros((N, d), Ex), memory.zeros((N, d), Ex)  # Σ_j σ_ij, Σ_j σ_ij ⊙ Bx_j: [N, d]
        (db,) = _buffers(1, E, 2 * d, e)
        a, b = _buffers(2, E, d, e)
        for r in _chunks(E, 2 * d, e.device):
            jc, ic, n = j[r], i[r], r.stop - r.start
            out, dbc, ac, bc = e_hat[r], db[:n], a[:n], b[:n]  # [n, d], [n, 2d], [n, d], [n, d]
            torch.addmm(C_b, e[r], C_w.t(), out=out)  # C e
            torch.index_select(DBx, 0, jc, out=dbc)  # [D x_j | B x_j]
            torch.index_select(Ex, 0, ic, out=ac)
            out.add_(dbc[:, :d]).add_(ac)  # ê = C e + D x_j + E x_i
            torch.sigmoid(out, out=ac)  # σ(ê)
            total.index_add_(0, ic, ac)
            numer.index_add_(0, ic, torch.mul(ac, dbc[:, d:], out=bc))  # σ ⊙ B x_j
        inv = total.add_(eps).reciprocal_()  # ι: [N, d]
        inv.masked_fill_(inv.isinf(), 0.0)  # a receiver without senders (with ε = 0) gets m = 0
        m = numer.mul_(inv)  # [N, d]
        norm = _Norm(e_hat, scale, gamma, beta, None if batch_stats else mean, var, batch_stats, bn_eps)
        e_new = norm.forward(e if residual else None)  # [E, d]
        ctx.residual = residual
        e_hat_out = keep_e_hat(ctx, e_hat, return_e_hat)
        _save_norm(ctx, norm, e, C_w, C_b, DBx, Ex, j, i, inv, m, e_hat if return_e_hat else None)
        ctx.mark_non_differentiable(norm.mean, norm.var)
        return e_new, m, e_hat_out, norm.mean, norm.var

    @staticmethod
    @once_differentiable
    def backward(ctx, g_e_new, g_m, g_e_hat, _g_mean, _g_var):
        saved = ctx.saved_tensors
        e, C_w, C_b, DBx, Ex, j, i, inv, m, saved_e_hat = saved[5:]
        E, d = e.shape
        e_hat, overwrite = e_hat_for_backward(
            ctx, saved_e_hat, lambda: recompute_e_hat(e, C_w, C_b, DBx, Ex, j, i, _step(2 * d, e.device))
        )
        norm = _load_norm(ctx, e_hat, saved)  # [E, d]
        N = DBx.shape[0]
        d_gamma = d_beta = None
        if g_e_new is not None:
            d_gamma, d_beta = norm.backward_sums(g_e_new)
        g_m = torch.zeros_like(m) if g_m is None else g_m
        P = g_m * inv  # g ι: [N, d]
        PQ = torch.cat([P, P * m], dim=1, out=memory.empty((N, 2 * d), P))  # [g ι | g ι ⊙ m]: [N, 2d]
        Bx = DBx[:, d:].contiguous()  # [N, d]
        de = None
        if ctx.needs_input_grad[0]:  # [E, d]; rows r of ê are not read again once ∂e of rows r is written
            de = e_hat if overwrite else memory.empty((E, d), e)
        dC_w = C_w.new_zeros((d, d))
        dC_b = C_w.new_zeros((d,))
        dDx, dBx, dEx = (memory.zeros((N, d), DBx) for _ in range(3))  # [N, d] each
        (pq,) = _buffers(1, E, 2 * d, e)
        s, u, dh, bn = _buffers(4, E, d, e)
        for r in _chunks(E, 2 * d, e.device):
            jc, ic, n = j[r], i[r], r.stop - r.start
            sc, pqc, uc, dhc = s[:n], pq[:n], u[:n], dh[:n]  # [n, d], [n, 2d], [n, d], [n, d]
            torch.sigmoid(e_hat[r], out=sc)  # σ
            torch.index_select(PQ, 0, ic, out=pqc)  # [g_i ι_i | g_i ι_i ⊙ m_i]
            dBx.index_add_(0, jc, torch.mul(sc, pqc[:, :d], out=uc))  # Σ_i σ ⊙ g_i ι_i
            torch.index_select(Bx, 0, jc, out=uc)
            torch.mul(pqc[:, :d], uc, out=dhc).sub_(pqc[:, d:])  # ∂L/∂σ = g_i ι_i ⊙ (B x_j − m_i)
            sc.sub_(torch.mul(sc, sc, out=uc))  # σ (1 − σ)
            dhc.mul_(sc)  # ∂L/∂ê through m: [n, d]
            if g_e_new is not None:
                dhc.add_(norm.grad(r, bn[:n]))  # + through e' = r + ReLU(BN(s ⊙ ê))
            if g_e_hat is not None:
                dhc.add_(g_e_hat[r])
            dDx.index_add_(0, jc, dhc)
            dEx.index_add_(0, ic, dhc)
            if de is not None:
                torch.mm(dhc, C_w, out=de[r])
                if ctx.residual and g_e_new is not None:
                    de[r].add_(g_e_new[r])  # the residual e' = e + ...
            dC_w.addmm_(dhc.t(), e[r])
            dC_b.add_(dhc.sum(0))
        return (
            de,
            dC_w,
            dC_b,
            torch.cat([dDx, dBx], dim=1, out=memory.empty((N, 2 * d), dEx)),
            dEx,
            None,
            None,
            None,
            None,
            d_gamma,
            d_beta,
            None,
            None,
            None,
            None,
            None,
            None,
        )


def gated_edges(
    e: Tensor,
    C_w: Tensor,
    C_b: Tensor,
    Dx: Tensor,
    Ex: Tensor,
    Bx: Tensor,
    edge_index: Tensor,
    eps: float,
    bn: torch.nn.BatchNorm1d | None = None,
    scale: Tensor | None = None,
    residual: bool = False,
    return_e_hat: bool = True,
) -> tuple[Tensor, Tensor, Tensor | None]:
    """The gated GCN's edge step, fused: ``ê_ij = C e_ij + D x_j + E x_i``, ``m_i = Σ_j η_ij ⊙ B x_j``
    and ``e'_ij = [e_ij +] ReLU(BN(s_ij ê_ij))``.

    ``η_ij = σ(ê_ij) / (Σ_k σ(ê_ik) + ε)`` is never stored.  ``bn`` as in :func:`norm_relu_residual`
    (None: no BN); ``scale`` (per edge, no gradient) as the layer's ``edge_scale``.
    ``return_e_hat`` False: ê is not returned (None), and backward writes ∂e into ê's memory (a fresh
    ``[E, d]`` tensor less at the peak of backward; a second backward of the graph recomputes ê).
    Shapes: e ``[E, d]``, C_w ``[d, d]``, C_b ``[d]``, Dx, Ex, Bx ``[N, d]``, edge_index ``[2, E]``
    -> e' ``[E, d]``, m ``[N, d]``, ê ``[E, d]`` or None.
    """
    j, i = edge_index  # senders, receivers: [E]
    DBx = torch.cat([Dx, Bx], dim=1)  # [N, 2d]
    gamma, beta, mean, var, batch_stats, bn_eps = _norm_arguments(bn, e)
    j, i = j.to(torch.int64).contiguous(), i.to(torch.int64).contiguous()
    args = (
        e.contiguous(),
        C_w,
        C_b,
        DBx,
        Ex.contiguous(),
        j,
        i,
        eps,
        scale,
        gamma,
        beta,
        mean,
        var,
        batch_stats,
        bn_eps,
        residual,
        return_e_hat,
    )
    lib = _native()
    if lib is not None and supports(e, C_w, DBx, Ex, gamma):
        e_new, m, e_hat, mean_b, var_b = NativeGatedEdges.apply(lib, *args, _step(e.shape[1], e.device))
    else:
        e_new, m, e_hat, mean_b, var_b = _GatedEdges.apply(*args)
    update_running(bn, batch_stats, mean_b, var_b, e.shape[0])
    return e_new, m, (e_hat if return_e_hat else None)


# ----------------------------------------------------------------------------- weighted sums over edges


def _gather_scatter(w: Tensor, x: Tensor, src: Tensor, dst: Tensor, num_out: int) -> Tensor:
    """``out[dst_k] += w_k ⊙ x[src_k]`` per head, chunk by chunk (no autograd).

    Shapes: w ``[E, H]``, x ``[N, H, d]`` -> ``[num_out, H, d]``.
    """
    E, H = w.shape
    out = memory.zeros((num_out, *x.shape[1:]), x)  # [num_out, H, d]
    width = x.shape[1] * x.shape[2]
    flat = x.reshape(x.shape[0], width)  # [N, H·d]
    (a,) = _buffers(1, E, width, x)
    for r in _chunks(E, width, x.device):
        ac = a[: r.stop - r.start]
        torch.index_select(flat, 0, src[r], out=ac)
        out.index_add_(0, dst[r], ac.view(-1, H, width // H).mul_(w[r].unsqueeze(-1)))  # [n, H, d]
    return out


class _GatherScatter(torch.autograd.Function):
    """``out[dst_k] += w_k ⊙ x[src_k]``; ``∂x`` is the same step with src and dst swapped, ``∂w_k = g[dst_k] · x[src_k]``."""

    @staticmethod
    def forward(ctx, w, x, src, dst, num_out):
        ctx.save_for_backward(w, x, src, dst)
        return _gather_scatter(w, x, src, dst, num_out)

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        w, x, src, dst = ctx.saved_tensors
        g = g.contiguous()
        dw = _edge_dot(g, x, src, dst) if ctx.needs_input_grad[0] else None  # [E, H]
        dx = _gather_scatter(w, g, dst, src, x.shape[0]) if ctx.needs_input_grad[1] else None  # [N, H, d]
        return dw, dx, None, None, None


def gather_scatter(w: Tensor, x: Tensor, edge_index: Tensor, num_nodes: int) -> Tensor:
    """``out_i = Σ_{j→i} w_ij x_j`` without an ``[E, d]`` tensor.

    Shapes: w ``[E]`` with x ``[N, d]`` -> ``[num_nodes, d]``; or w ``[E, H]`` with x ``[N, H, d]``
    -> ``[num_nodes, H, d]``.
    """
    j, i = edge_index  # senders, receivers: [E]
    if w.dim() == 1:
        return _GatherScatter.apply(
            w.unsqueeze(1), x.unsqueeze(1).contiguous(), j.contiguous(), i.contiguous(), num_nodes
        ).squeeze(1)
    return _GatherScatter.apply(w.contiguous(), x.contiguous(), j.contiguous(), i.contiguous(), num_nodes)


def _edge_dot(q: Tensor, k: Tensor, src: Tensor, dst: Tensor) -> Tensor:
    """``s_k = q[dst_k] · k[src_k]`` per head, chunk by chunk (no autograd).

    Shapes: q ``[N_q, H, d]``, k ``[N_k, H, d]`` -> ``[E, H]``.
    """
    E = src.shape[0]
    H, d = q.shape[1], q.shape[2]
    s = memory.empty((E, H), q)  # [E, H]
    a, b = _buffers(2, E, H * d, q)
    qf, kf = q.reshape(q.shape[0], H * d), k.reshape(k.shape[0], H * d)
    for r in _chunks(E, H * d, q.device):
        n = r.stop - r.start
        ac, bc = a[:n], b[:n]
        torch.index_select(qf, 0, dst[r], out=ac)
        torch.index_select(kf, 0, src[r], out=bc)
        torch.sum(ac.mul_(bc).view(n, H, d), -1, out=s[r])  # [n, H]
    return s


class _EdgeDot(torch.autograd.Function):
    """``s_k = q[dst_k] · k[src_k]``; ``∂q = Σ g k[src]`` into dst, ``∂k = Σ g q[dst]`` into src."""

    @staticmethod
    def forward(ctx, q, k, src, dst):
        ctx.save_for_backward(q, k, src, dst)
        return _edge_dot(q, k, src, dst)

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        q, k, src, dst = ctx.saved_tensors
        g = g.contiguous()
        dq = _gather_scatter(g, k, src, dst, q.shape[0]) if ctx.needs_input_grad[0] else None  # [N, H, d]
        dk = _gather_scatter(g, q, dst, src, k.shape[0]) if ctx.needs_input_grad[1] else None  # [N, H, d]
        return dq, dk, None, None


def edge_dot(q: Tensor, k: Tensor, edge_index: Tensor) -> Tensor:
    """``s_ij = q_i · k_j`` for every edge ``j → i``, per head, without ``[E, H, d]`` tensors.

    Shapes: q, k ``[N, H, d]``, edge_index ``[2, E]`` -> ``[E, H]``.
    """
    j, i = edge_index  # senders, receivers: [E]
    return _EdgeDot.apply(q.contiguous(), k.contiguous(), j.contiguous(), i.contiguous())
