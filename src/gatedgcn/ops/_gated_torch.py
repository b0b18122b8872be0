"""The gated GCN's edge step in PyTorch, chunk by chunk: the kernels of ``gatedgcn::gated_edges`` on any device.

Same inputs and outputs as :mod:`gatedgcn.ops._gated_native` (see :mod:`gatedgcn.ops.gated` for the
equations).  Each chunk of ``step`` edges is a dozen tensor operations on small reused buffers
(which stay in cache); no ``[E, d]`` tensor is made but the outputs, and ``σ``, the gathers and ``∂ê``
are recomputed chunk by chunk instead of being stored; backward recomputes ê too (:func:`edge_states`, into the
``[E, d]`` that then receives ∂e), so forward's ê is freed with the caller's, unless the op kept it (few edges:
:func:`~gatedgcn.ops._select.keeps_e_hat`); ∂e' is read in any layout (a broadcast one is not copied).
The large outputs come from :func:`gatedgcn.ops._native.empty` (huge pages).  With ``g = ∂L/∂m``:
``∂L/∂ê_ij = g_i ⊙ eta_norm_i ⊙ (Bx_j − m_i) ⊙ σ_ij (1 − σ_ij)`` (+ the BN path),
``∂L/∂Bx_j = Σ_i σ_ij ⊙ g_i ⊙ eta_norm_i``.
"""

from __future__ import annotations

import torch

from gatedgcn.ops._batchnorm import ChunkedNorm, row_chunks
from gatedgcn.ops._native import empty
from gatedgcn.ops.segment import inverse_gate_sums

__all__ = ["backward", "forward"]


def forward(
    e, C_w, C_b, Dx, Ex, Bx, j, i, scale, gamma, beta, mean, var, eps, batch_stats, bn_eps, residual, step, edge_update
):  # fmt: skip
    """-> e' (``[0, d]`` without ``edge_update``), m, ê, eta_norm, and the μ, var of the edge BN used."""
    (N, d), E = Ex.shape, j.shape[0]
    DBx = torch.cat([Dx, Bx], dim=1)  # [D x | B x]: one gather moves both, [N, 2d]
    e_hat = empty(Dx, (E, d))  # [E, d]
    sigma_sum, gated_sum = Ex.new_zeros((N, d)), Ex.new_zeros((N, d))  # Σ_j σ_ij, Σ_j σ_ij ⊙ Bx_j: [N, d]
    rows = min(E, step)
    db, sigma, b = Dx.new_empty((rows, 2 * d)), Dx.new_empty((rows, d)), Dx.new_empty((rows, d))
    for r in row_chunks(E, step):
        jc, ic, n = j[r], i[r], r.stop - r.start
        out, dbc, sc, bc = e_hat[r], db[:n], sigma[:n], b[:n]  # [n, d], [n, 2d], [n, d], [n, d]
        if e is None:
            out.copy_(C_b)  # no edge state: C_b
        else:
            torch.addmm(C_b, e[r], C_w.t(), out=out)  # C e
        torch.index_select(DBx, 0, jc, out=dbc)  # [D x_j | B x_j]
        torch.index_select(Ex, 0, ic, out=sc)
        out.add_(dbc[:, :d]).add_(sc)  # ê = C e + D x_j + E x_i
        torch.sigmoid(out, out=sc)  # σ(ê)
        sigma_sum.index_add_(0, ic, sc)
        gated_sum.index_add_(0, ic, torch.mul(sc, dbc[:, d:], out=bc))  # σ ⊙ B x_j
    eta_norm = inverse_gate_sums(sigma_sum, eps)  # 1 / (Σ_j σ_ij + ε): [N, d]
    m = gated_sum.mul_(eta_norm)  # Σ_j η_ij ⊙ B x_j: [N, d]
    if not edge_update:
        return e_hat.new_empty((0, d)), m, e_hat, eta_norm, mean.clone(), var.clone()
    norm = ChunkedNorm(e_hat, scale, gamma, beta, mean, var, batch_stats, bn_eps, step)
    e_new = norm.forward(e if residual else None)  # [E, d]
    return e_new, m, e_hat, eta_norm, norm.mean.clone(), norm.var.clone()


def edge_states(e, C_w, C_b, Dx, Ex, j, i, step):
    """ê = C e + C_b + D x_j + E x_i recomputed chunk by chunk (without e: C_b + D x_j + E x_i): ``[E, d]``."""
    E, d = j.shape[0], Ex.shape[1]
    e_hat = empty(Dx, (E, d))  # [E, d]
    gathered = Dx.new_empty((min(E, step), d))
    for r in row_chunks(E, step):
        out, gc = e_hat[r], gathered[: r.stop - r.start]  # [n, d]
        if e is None:
            out.copy_(C_b)
        else:
            torch.addmm(C_b, e[r], C_w.t(), out=out)
        out.add_(torch.index_select(Dx, 0, j[r], out=gc)).add_(torch.index_select(Ex, 0, i[r], out=gc))
    return e_hat


def backward(
    g_e_new, g_m, g_e_hat, e, C_w, C_b, Dx, Ex, Bx, j, i, eta_norm, m, kept, scale, gamma, beta, mean, var,
    batch_stats, bn_eps, residual, step, need_de
):  # fmt: skip
    """-> ∂e (empty unless ``need_de``), ∂C_w, ∂C_b, ∂Dx, ∂Ex, ∂Bx, ∂γ, ∂β.  ê is forward's where it was ``kept``, else
    recomputed into the ``[E, d]`` that then receives ∂e, chunk by chunk once the chunk's ê is used."""
    (N, d), E = Bx.shape, j.shape[0]
    e_hat = edge_states(e, C_w, C_b, Dx, Ex, j, i, step) if kept is None else kept  # ê: [E, d]
    norm = ChunkedNorm(e_hat, scale, gamma, beta, mean, var, False, bn_eps, step)
    norm.batch_stats = batch_stats
    d_gamma, d_beta = gamma.new_zeros(d), gamma.new_zeros(d)
    if g_e_new is not None:
        d_gamma, d_beta = norm.backward_sums(g_e_new)
    P = eta_norm.new_zeros((N, d)) if g_m is None else g_m * eta_norm  # g ⊙ eta_norm: [N, d]
    PQ = torch.cat([P, P * m], dim=1)  # [g ⊙ eta_norm | g ⊙ eta_norm ⊙ m]: [N, 2d]
    # ∂e: over the recomputed ê (row r overwritten once chunk r is done with it), or a new [E, d] beside the kept one
    de = (e_hat if kept is None else empty(e_hat, e_hat.shape)) if need_de else e_hat.new_empty((0,))
    dC_w, dC_b = C_w.new_zeros((d, d)), C_w.new_zeros((d,))
    dDx, dBx, dEx = (Bx.new_zeros((N, d)) for _ in range(3))  # [N, d] each
    rows = min(E, step)
    pq = e_hat.new_empty((rows, 2 * d))
    sigma, u, dh, bn = (e_hat.new_empty((rows, d)) for _ in range(4))
    for r in row_chunks(E, step):
        jc, ic, n = j[r], i[r], r.stop - r.start
        sc, pqc, uc, dhc = sigma[:n], pq[:n], u[:n], dh[:n]  # [n, d], [n, 2d], [n, d], [n, d]
        torch.sigmoid(e_hat[r], out=sc)  # σ
        torch.index_select(PQ, 0, ic, out=pqc)  # [P_i | Q_i]
        dBx.index_add_(0, jc, torch.mul(sc, pqc[:, :d], out=uc))  # Σ_i σ ⊙ P_i
        torch.index_select(Bx, 0, jc, out=uc)
        torch.mul(pqc[:, :d], uc, out=dhc).sub_(pqc[:, d:])  # ∂L/∂σ = P_i ⊙ B x_j − Q_i
        sc.sub_(torch.mul(sc, sc, out=uc))  # σ (1 − σ)
        dhc.mul_(sc)  # ∂L/∂ê through m: [n, d]
        if g_e_new is not None:
            dhc.add_(norm.grad(r, bn[:n]))  # + through e' = r + ReLU(BN(s ⊙ ê))
        if g_e_hat is not None:
            dhc.add_(g_e_hat[r])
        dDx.index_add_(0, jc, dhc)
        dEx.index_add_(0, ic, dhc)
        if need_de:
            torch.mm(dhc, C_w, out=de[r])  # over ê's rows r, read for the last time above
            if residual and g_e_new is not None:
                de[r].add_(g_e_new[r])  # the residual e' = e + ...
        if e is not None:
            dC_w.addmm_(dhc.t(), e[r])
        dC_b.add_(dhc.sum(0))
    return de, dC_w, dC_b, dDx, dEx, dBx, d_gamma, d_beta
