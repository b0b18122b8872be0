"""Attention: every element looks at every other (dense), or only at its senders (graph).

    q, k, v = W_q x, W_k x, W_v x
    a = softmax(β Kᵀ q),  β = 1/√d        (hard: the one-hot argmax of β Kᵀ q)
    h = V a

With ``heads > 1`` each head has its own maps and the heads' outputs are joined by
``W_h: R^{h·d} -> R^d``.  :class:`GraphAttention` computes the same scores, but the
softmax of receiver ``i`` runs only over its senders ``j -> i``: attention whose support
is given by the graph.  Its scores and weighted sum are :func:`gatedgcn.ops.edge_dot` and
:func:`gatedgcn.ops.gather_scatter`, which pick their kernels by size (no ``[E, H, d]`` tensor on large
graphs); ``impl="reference"`` makes them run the plain gathers.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from gatedgcn.errors import GraphError
from gatedgcn.graph import check_layer_inputs
from gatedgcn.ops import IMPLS, edge_dot, gather_scatter, segment_softmax

__all__ = ["GraphAttention", "SelfAttention"]


class _QKV(nn.Module):
    """The maps ``W_q, W_k, W_v`` (and ``W_h`` for several heads) shared by both attentions."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if dim < 1 or heads < 1:
            raise ValueError(f"dim and heads must be >= 1, got dim={dim}, heads={heads}")
        self.dim, self.heads = dim, heads
        self.beta = 1.0 / math.sqrt(dim)
        self.W_q = nn.Linear(dim, heads * dim, bias=False)
        self.W_k = nn.Linear(dim, heads * dim, bias=False)
        self.W_v = nn.Linear(dim, heads * dim, bias=False)
        self.W_h = nn.Linear(heads * dim, dim, bias=False) if heads > 1 else None

    def split(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``[..., dim]`` -> q, k, v each ``[..., H, d]``."""
        shape = (*x.shape[:-1], self.heads, self.dim)
        return self.W_q(x).view(shape), self.W_k(x).view(shape), self.W_v(x).view(shape)

    def join(self, h: Tensor) -> Tensor:
        """``[..., H, d]`` -> ``[..., dim]`` through ``W_h`` (the identity for one head)."""
        h = h.reshape(*h.shape[:-2], self.heads * self.dim)  # [..., H·d]
        return h if self.W_h is None else self.W_h(h)


class SelfAttention(_QKV):
    """Dense self-attention ``h = V softmax(β Kᵀ q)`` over a set of ``T`` elements.

    Shapes: x ``[T, dim]`` or ``[B, T, dim]``; key_padding_mask ``[B, T]`` (True = padding)
    -> h of the shape of x; with ``return_weights`` also a ``[B, H, T_i, T_j]`` (or ``[H, T, T]``).
    A query whose keys are all padding gets ``a = 0`` and ``h = 0``.
    """

    def __init__(self, dim: int, *, heads: int = 1, hard: bool = False) -> None:
        super().__init__(dim, heads)
        self.hard = hard

    def forward(self, x: Tensor, key_padding_mask: Tensor | None = None, *, return_weights: bool = False):
        single = x.dim() == 2
        if single:
            x = x.unsqueeze(0)  # [1, T, dim]
        if x.dim() != 3 or x.shape[-1] != self.dim:
            raise GraphError(f"SelfAttention: x must be [T, {self.dim}] or [B, T, {self.dim}], got {list(x.shape)}")
        B, T, _ = x.shape
        q, k, v = (t.transpose(1, 2) for t in self.split(x))  # each [B, H, T, d]
        scores = self.beta * q @ k.transpose(-1, -2)  # [B, H, T_i, T_j]
        if key_padding_mask is not None:
            if key_padding_mask.shape != (B, T):
                raise GraphError(
                    f"SelfAttention: key_padding_mask must be [{B}, {T}], got {list(key_padding_mask.shape)}"
                )
            scores = scores.masked_fill(key_padding_mask[:, None, None, :], float("-inf"))
        if self.hard:
            a = torch.zeros_like(scores).scatter_(-1, scores.argmax(-1, keepdim=True), 1.0)  # one-hot [B, H, T, T]
        else:
            a = torch.softmax(scores, dim=-1)  # [B, H, T_i, T_j]
        if key_padding_mask is not None:
            a = a.masked_fill(key_padding_mask[:, None, None, :], 0.0).nan_to_num(0.0)
        h = self.join((a @ v).transpose(1, 2))  # [B, T, dim]
        if single:
            h, a = h[0], a[0]
        return (h, a) if return_weights else h


class GraphAttention(_QKV):
    """Attention restricted to the graph: ``h_i = Σ_{j→i} a_ij v_j``, ``a_ij = softmax_{j→i}(β k_j·q_i)``.

    Shapes: x ``[N, dim]``, edge_index ``[2, E]`` -> h ``[N, dim]``; with ``return_weights``
    also a ``[E, H]``.  A node with no sender gets ``h = 0``.
    """

    def __init__(self, dim: int, *, heads: int = 1, impl: str = "fast") -> None:
        super().__init__(dim, heads)
        if impl not in IMPLS:
            raise ValueError(f"GraphAttention: impl must be one of {IMPLS}, got {impl!r}")
        self.impl = impl

    def forward(self, x: Tensor, edge_index: Tensor, *, return_weights: bool = False):
        check_layer_inputs("GraphAttention", x, edge_index, dim=self.dim)
        i = edge_index[1]  # receivers: [E]
        N = x.shape[0]
        q, k, v = self.split(x)  # each [N, H, d]
        scores = self.beta * edge_dot(q, k, edge_index, impl=self.impl)  # β k_j·q_i: [E, H]
        a = segment_softmax(scores, i, N)  # [E, H]
        m = gather_scatter(a, v, edge_index, N, impl=self.impl)  # Σ_j a_ij v_j: [N, H, d]
        h = self.join(m)  # [N, dim]
        return (h, a) if return_weights else h
