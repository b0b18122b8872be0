"""Weighted sums over edges and scores of edges, without ``[E, H, d]`` tensors: ops ``gatedgcn::gather_scatter``
and ``gatedgcn::edge_dot``.

    gather_scatter   out_i = Σ_{j→i} w_ij x_j          (GCN, graph attention)
    edge_dot         s_ij  = q_i · k_j                 (graph attention scores)

Each is the other's gradient: ``∂w_ij = g_i · x_j`` is an edge_dot, ``∂x_j = Σ_i w_ij g_i`` a gather_scatter
along the reversed edges; ``∂q_i = Σ_j g_ij k_j`` and ``∂k_j = Σ_i g_ij q_i`` likewise.  The kernels stream the
edges in chunks of a few thousand rows through one small buffer (:mod:`gatedgcn.ops._select`).  Below the
thresholds, and with ``impl="reference"``, the plain gathers run.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from gatedgcn.ops import _select
from gatedgcn.ops._batchnorm import row_chunks

__all__ = ["edge_dot", "gather_scatter"]


@torch.library.custom_op("gatedgcn::gather_scatter", mutates_args=())
def _gather_scatter(w: Tensor, x: Tensor, edge_index: Tensor, num_nodes: int) -> Tensor:
    """``out[i_k] += w_k ⊙ x[j_k]`` per head.  Shapes: w ``[E, H]``, x ``[N, H, d]`` -> ``[num_nodes, H, d]``."""
    j, i = edge_index.to(torch.int64)
    w, x = w.contiguous(), x.contiguous()
    E, H = w.shape
    width = x.shape[1] * x.shape[2]
    out = x.new_zeros((num_nodes, *x.shape[1:]))  # [num_nodes, H, d]
    flat = x.view(x.shape[0], width)  # [N, H·d]
    step = _select.chunk_rows(width, x.device)
    a = x.new_empty((min(E, step), width))
    for r in row_chunks(E, step):
        ac = a[: r.stop - r.start]
        torch.index_select(flat, 0, j[r], out=ac)
        out.index_add_(0, i[r], ac.view(-1, H, width // H).mul_(w[r].unsqueeze(-1)))  # [n, H, d]
    return out


@_gather_scatter.register_fake
def _(w, x, edge_index, num_nodes):
    return x.new_empty((num_nodes, *x.shape[1:]))


@torch.library.custom_op("gatedgcn::edge_dot", mutates_args=())
def _edge_dot(q: Tensor, k: Tensor, edge_index: Tensor) -> Tensor:
    """``s_k = q[i_k] · k[j_k]`` per head.  Shapes: q ``[N_q, H, d]``, k ``[N_k, H, d]`` -> ``[E, H]``."""
    j, i = edge_index.to(torch.int64)
    E, (H, d) = j.shape[0], q.shape[1:]
    s = q.new_empty((E, H))  # [E, H]
    qf, kf = q.reshape(q.shape[0], H * d), k.reshape(k.shape[0], H * d)
    step = _select.chunk_rows(H * d, q.device)
    a, b = q.new_empty((min(E, step), H * d)), q.new_empty((min(E, step), H * d))
    for r in row_chunks(E, step):
        n = r.stop - r.start
        ac, bc = a[:n], b[:n]
        torch.index_select(qf, 0, i[r], out=ac)
        torch.index_select(kf, 0, j[r], out=bc)
        torch.sum(ac.mul_(bc).view(n, H, d), -1, out=s[r])  # [n, H]
    return s


@_edge_dot.register_fake
def _(q, k, edge_index):
    return q.new_empty((edge_index.shape[1], q.shape[1]))


def _setup_gather_scatter(ctx, inputs, output):
    w, x, edge_index, _ = inputs
    ctx.save_for_backward(w, x, edge_index)


def _backward_gather_scatter(ctx, g):
    w, x, edge_index = ctx.saved_tensors
    dw = torch.ops.gatedgcn.edge_dot(g, x, edge_index) if ctx.needs_input_grad[0] else None  # [E, H]
    dx = None
    if ctx.needs_input_grad[1]:
        dx = torch.ops.gatedgcn.gather_scatter(w, g, edge_index.flip(0), x.shape[0])  # [N, H, d]
    return dw, dx, None, None


def _setup_edge_dot(ctx, inputs, output):
    q, k, edge_index = inputs
    ctx.save_for_backward(q, k, edge_index)


def _backward_edge_dot(ctx, g):
    q, k, edge_index = ctx.saved_tensors
    dq = torch.ops.gatedgcn.gather_scatter(g, k, edge_index, q.shape[0]) if ctx.needs_input_grad[0] else None
    dk = None
    if ctx.needs_input_grad[1]:
        dk = torch.ops.gatedgcn.gather_scatter(g, q, edge_index.flip(0), k.shape[0])  # [N, H, d]
    return dq, dk, None


_gather_scatter.register_autograd(_backward_gather_scatter, setup_context=_setup_gather_scatter)
_edge_dot.register_autograd(_backward_edge_dot, setup_context=_setup_edge_dot)


def gather_scatter(w: Tensor, x: Tensor, edge_index: Tensor, num_nodes: int, *, impl: str = "fast") -> Tensor:
    """``out_i = Σ_{j→i} w_ij x_j``.

    Shapes: w ``[E]`` with x ``[N, d]`` -> ``[num_nodes, d]``; or w ``[E, H]`` with x ``[N, H, d]``
    -> ``[num_nodes, H, d]``.
    """
    single = w.dim() == 1
    if single:
        w, x = w.unsqueeze(1), x.unsqueeze(1)  # [E, 1], [N, 1, d]
    if impl == "reference" or not _select.fused("gather_scatter", edge_index.shape[1] * math.prod(x.shape[1:])):
        j, i = edge_index  # senders, receivers: [E]
        out = x.new_zeros((num_nodes, *x.shape[1:])).index_add(0, i, w.unsqueeze(-1) * x[j])  # [num_nodes, H, d]
    else:
        out = torch.ops.gatedgcn.gather_scatter(w, x, edge_index, num_nodes)
    return out.squeeze(1) if single else out


def edge_dot(q: Tensor, k: Tensor, edge_index: Tensor, *, impl: str = "fast") -> Tensor:
    """``s_ij = q_i · k_j`` for every edge ``j → i``, per head.  Shapes: q, k ``[N, H, d]`` -> ``[E, H]``."""
    if impl == "reference" or not _select.fused("edge_dot", edge_index.shape[1] * math.prod(q.shape[1:])):
        j, i = edge_index  # senders, receivers: [E]
        return (q[i] * k[j]).sum(-1)  # [E, H]
    return torch.ops.gatedgcn.edge_dot(q, k, edge_index)
