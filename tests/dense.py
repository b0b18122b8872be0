"""Independent dense float64 implementations of the family's equations, for the tests.

Nothing here uses gatedgcn.ops: the graph is an adjacency matrix ``Adj[i, j]`` = number of
edges ``j -> i``, and every sum over senders is a matrix product or a masked reduction.
"""

from __future__ import annotations

import torch
from torch import Tensor


def adjacency(edge_index: Tensor, n: int, dtype: torch.dtype = torch.float64) -> Tensor:
    """``Adj[i, j]`` = number of edges ``j -> i``: ``[n, n]`` (float64 unless told)."""
    adj = torch.zeros(n, n, dtype=dtype)
    for j, i in edge_index.t().tolist():
        adj[i, j] += 1.0
    return adj


def linear(x: Tensor, lin: torch.nn.Linear) -> Tensor:
    out = x @ lin.weight.t()
    return out if lin.bias is None else out + lin.bias


def batch_norm(t: Tensor, bn: torch.nn.BatchNorm1d) -> Tensor:
    """Training-mode batch norm written out: biased variance over the rows."""
    mean = t.mean(0)
    var = ((t - mean) ** 2).mean(0)
    return (t - mean) / torch.sqrt(var + bn.eps) * bn.weight + bn.bias


def self_attention(x: Tensor, layer, mask: Tensor | None = None) -> Tensor:
    """``h_i = Σ_j a_ij v_j``, ``a_i = softmax_j(β k_j·q_i)`` per head, one set ``[T, dim]`` at a time."""
    T, dim = x.shape
    H = layer.heads
    outs = []
    for head in range(H):
        rows = slice(head * dim, (head + 1) * dim)
        q = x @ layer.W_q.weight[rows].t()
        k = x @ layer.W_k.weight[rows].t()
        v = x @ layer.W_v.weight[rows].t()
        s = (q @ k.t()) / dim**0.5  # [T_i, T_j]
        if mask is not None:
            s = s.masked_fill(mask[None, :], float("-inf"))
        if layer.hard:
            a = torch.zeros_like(s)
            a[torch.arange(T), s.argmax(1)] = 1.0
        else:
            a = torch.exp(s - s.max(1, keepdim=True).values)
            a = a / a.sum(1, keepdim=True)
        outs.append(a @ v)
    h = torch.cat(outs, dim=1)
    return h if layer.W_h is None else h @ layer.W_h.weight.t()


def graph_attention(x: Tensor, edge_index: Tensor, layer) -> Tensor:
    """Softmax over the senders of each receiver, counting a repeated edge as many times as it appears."""
    n, dim = x.shape
    adj = adjacency(edge_index, n, x.dtype)
    outs = []
    for head in range(layer.heads):
        rows = slice(head * dim, (head + 1) * dim)
        q = x @ layer.W_q.weight[rows].t()
        k = x @ layer.W_k.weight[rows].t()
        v = x @ layer.W_v.weight[rows].t()
        s = (q @ k.t()) / dim**0.5  # [i, j]
        low = torch.finfo(s.dtype).min
        s = s - torch.where(adj > 0, s, torch.full_like(s, low)).max(1, keepdim=True).values.clamp(min=low)
        w = adj * torch.exp(torch.where(adj > 0, s, torch.zeros_like(s)))
        denom = w.sum(1, keepdim=True)
        a = torch.where(denom > 0, w / torch.where(denom > 0, denom, torch.ones_like(denom)), torch.zeros_like(w))
        outs.append(a @ v)
    h = torch.cat(outs, dim=1)
    return h if layer.W_h is None else h @ layer.W_h.weight.t()


def gcn(x: Tensor, edge_index: Tensor, layer, activation: str = "relu", norm: str = "mean") -> Tensor:
    """``f(U x + D⁻¹ Adj (V x))`` (mean) or ``f(U x + D^-1/2 Adj D^-1/2 (V x))`` (symmetric)."""
    n = x.shape[0]
    adj = adjacency(edge_index, n, x.dtype)
    d = adj.sum(1).clamp(min=1)
    if norm == "mean":
        prop = adj / d[:, None]
    else:
        prop = adj / torch.sqrt(d[:, None] * d[None, :])
    h = linear(x, layer.U) + prop @ linear(x, layer.V)
    return torch.relu(h) if activation == "relu" else h


def gated_gcn(x: Tensor, edge_index: Tensor, e: Tensor, layer, *, training_bn: bool) -> tuple[Tensor, Tensor]:
    """The gated layer with a dense ``[n, n, d]`` edge tensor (simple graphs: no repeated edge)."""
    n, d = x.shape
    adj = adjacency(edge_index, n, x.dtype)
    assert adj.max() <= 1, "the dense reference needs a simple graph"
    j_idx, i_idx = edge_index.long()
    E_dense = torch.zeros(n, n, d, dtype=x.dtype)
    E_dense = E_dense.index_put((i_idx, j_idx), linear(e, layer.C))  # C e_ij at [i, j]
    Dx, Ex = linear(x, layer.D), linear(x, layer.E)
    e_hat = E_dense + Dx[None, :, :] + Ex[:, None, :]  # [i, j, d]
    mask = adj[:, :, None]  # [i, j, 1]
    sig = torch.sigmoid(e_hat) * mask
    eta = sig / (sig.sum(1, keepdim=True) + layer.eps)  # [i, j, d]
    h = linear(x, layer.A) + (eta * linear(x, layer.B)[None, :, :]).sum(1)  # [n, d]
    e_rows = e_hat[i_idx, j_idx]  # back to edge order: [E, d]
    if isinstance(layer.bn_h, torch.nn.BatchNorm1d):
        if training_bn:
            h, e_rows = batch_norm(h, layer.bn_h), batch_norm(e_rows, layer.bn_e)
        else:
            h = (h - layer.bn_h.running_mean) / torch.sqrt(
                layer.bn_h.running_var + layer.bn_h.eps
            ) * layer.bn_h.weight + layer.bn_h.bias
            e_rows = (e_rows - layer.bn_e.running_mean) / torch.sqrt(
                layer.bn_e.running_var + layer.bn_e.eps
            ) * layer.bn_e.weight + layer.bn_e.bias
    h, e_rows = torch.relu(h), torch.relu(e_rows)
    if layer.residual:
        h, e_rows = x + h, e + e_rows
    return h, e_rows
