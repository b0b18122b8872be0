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
import torch.nn.functional as F
from torch import Tensor, nn

from gatedgcn.errors import GraphError
from gatedgcn.graph import check_layer_inputs
from gatedgcn.ops import IMPLS, edge_dot, gather_scatter, linear, segment_softmax

__all__ = ["HEADS_JOINS", "SCORES", "GraphAttention", "SelfAttention"]


SCORES = ("dot", "additive")  # β k_j·q_i, or Veličković's LeakyReLU(aᵀ[W x_i ‖ W x_j])
HEADS_JOINS = ("linear", "concat", "mean")  # W_h over the heads' outputs, their concatenation, or their mean


class _QKV(nn.Module):
    """The maps ``W_q, W_k, W_v`` (each ``in_dim -> H · d_h``; ``in_dim`` is ``dim`` unless given) and the join of
    the heads shared by both attentions.

    ``heads_join``: ``linear`` (``W_h: R^{H·d} -> R^d``, the identity for one head; ``d_h = dim``), ``concat``
    (``d_h = dim / H``, the heads side by side) or ``mean`` (``d_h = dim``, the heads averaged).
    ``query_key=False``: no ``W_q, W_k`` (a score that reads only ``v``)."""

    def __init__(
        self, dim: int, heads: int, *, heads_join: str = "linear", query_key: bool = True, in_dim: int | None = None
    ) -> None:
        super().__init__()
        in_dim = dim if in_dim is None else in_dim
        if min(dim, in_dim, heads) < 1:
            raise ValueError(f"dims and heads must be >= 1, got in_dim={in_dim}, dim={dim}, heads={heads}")
        if heads_join not in HEADS_JOINS:
            raise ValueError(f"heads_join must be one of {HEADS_JOINS}, got {heads_join!r}")
        if heads_join == "concat" and dim % heads:
            raise ValueError(f"heads_join='concat' needs dim divisible by heads, got dim={dim}, heads={heads}")
        self.dim, self.heads, self.heads_join = dim, heads, heads_join
        self.in_channels, self.out_channels = in_dim, dim
        self.head_dim = d_h = dim // heads if heads_join == "concat" else dim
        self.beta = 1.0 / math.sqrt(d_h)
        self.W_q = nn.Linear(in_dim, heads * d_h, bias=False) if query_key else None
        self.W_k = nn.Linear(in_dim, heads * d_h, bias=False) if query_key else None
        self.W_v = nn.Linear(in_dim, heads * d_h, bias=False)
        self.W_h = nn.Linear(heads * d_h, dim, bias=False) if heads > 1 and heads_join == "linear" else None

    def split(self, x: Tensor, impl: str = "fast") -> tuple[Tensor | None, Tensor | None, Tensor]:
        """``[..., dim]`` -> q, k, v each ``[..., H, d_h]`` (q, k: ``None`` without ``W_q, W_k``), each map through
        :func:`~gatedgcn.ops.linear` (``impl``)."""
        shape = (*x.shape[:-1], self.heads, self.head_dim)
        q, k, v = (
            None if W is None else linear(x, W.weight, impl=impl).view(shape) for W in (self.W_q, self.W_k, self.W_v)
        )
        assert v is not None
        return q, k, v

    def join(self, h: Tensor) -> Tensor:
        """``[..., H, d_h]`` -> ``[..., dim]``: the mean of the heads, or their concatenation (through ``W_h``)."""
        if self.heads_join == "mean":
            return h.mean(-2)  # [..., d]
        h = h.reshape(*h.shape[:-2], self.heads * self.head_dim)  # [..., H·d_h]
        return h if self.W_h is None else self.W_h(h)

    def reset_parameters(self) -> None:
        """Every map as at construction (``nn.Linear``'s default initialisation)."""
        for f in (self.W_q, self.W_k, self.W_v, self.W_h):
            if f is not None:
                f.reset_parameters()


class SelfAttention(_QKV):
    """Dense self-attention ``h = V softmax(β Kᵀ q)`` over a set of ``T`` elements.

    Shapes: x ``[T, dim]`` or ``[B, T, dim]``; key_padding_mask ``[B, T]`` (True = padding)
    -> h of the shape of x; with ``return_weights`` also a ``[B, H, T_i, T_j]`` (or ``[H, T, T]``).
    A query whose keys are all padding gets ``a = 0`` and ``h = 0``.
    """

    def __init__(self, dim: int, *, heads: int = 1, hard: bool = False, heads_join: str = "linear") -> None:
        super().__init__(dim, heads, heads_join=heads_join)
        self.hard = hard

    def forward(self, x: Tensor, key_padding_mask: Tensor | None = None, *, return_weights: bool = False):
        single = x.dim() == 2
        if single:
            x = x.unsqueeze(0)  # [1, T, dim]
        if x.dim() != 3 or x.shape[-1] != self.dim:
            raise GraphError(f"SelfAttention: x must be [T, {self.dim}] or [B, T, {self.dim}], got {list(x.shape)}")
        B, T, _ = x.shape
        if key_padding_mask is not None and key_padding_mask.shape != (B, T):
            raise GraphError(f"SelfAttention: key_padding_mask must be [{B}, {T}], got {list(key_padding_mask.shape)}")
        q, k, v = self.split(x)  # each [B, T, H, d]
        assert q is not None and k is not None  # self-attention always has W_q and W_k
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # each [B, H, T, d]
        if not (return_weights or self.hard):
            h = self.join(_fused(q, k, v, key_padding_mask, self.beta).transpose(1, 2))  # [B, T, dim]
            return h[0] if single else h
        scores = self.beta * q @ k.transpose(-1, -2)  # [B, H, T_i, T_j]
        if key_padding_mask is not None:
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


def _fused(q: Tensor, k: Tensor, v: Tensor, key_padding_mask: Tensor | None, beta: float) -> Tensor:
    """``V softmax(β Kᵀ q)`` by torch's fused attention (no ``[B, H, T, T]`` tensor is kept: on a padded batch of
    128 peptides, ~9x faster than the explicit softmax with its masks); a set whose keys are all padding gives 0.
    Shapes: q, k, v ``[B, H, T, d]``, key_padding_mask ``[B, T]`` (True = padding) -> ``[B, H, T, d]``."""
    if key_padding_mask is None:
        return F.scaled_dot_product_attention(q, k, v, scale=beta)
    empty = key_padding_mask.all(-1)  # [B]: sets without a key
    keep = ~(key_padding_mask & ~empty[:, None])  # [B, T] keys attended to (all of an empty set's: no 0/0)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=keep[:, None, None, :], scale=beta)  # [B, H, T, d]
    return out.masked_fill(empty[:, None, None, None], 0.0)


class GraphAttention(_QKV):
    """Attention restricted to the graph: ``h_i = Σ_{j→i} a_ij v_j`` with, by ``score``,

        dot:       a_ij = softmax_{j→i}(β k_j·q_i)                             (today's default)
        additive:  a_ij = softmax_{j→i}(LeakyReLU(a_iᵀ W x_i + a_jᵀ W x_j))     (Veličković et al.: aᵀ[W x_i ‖ W x_j])

    per head; with ``additive`` the values are ``v = W x`` (``W = W_v``; no ``W_q, W_k``), the negative slope 0.2.
    ``attention_dropout`` drops weights ``a_ij`` in training (the kept ones scaled by ``1/(1-p)``).
    Includes none of norm, activation and residual (the model's block adds them).

    Shapes: x ``[N, in_dim]``, edge_index ``[2, E]`` -> h ``[N, out_dim]`` (``out_dim`` is ``in_dim`` unless given);
    with ``return_weights`` also a ``[E, H]`` (before dropout).  A node with no sender gets ``h = 0``.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int | None = None,
        *,
        heads: int = 1,
        impl: str = "fast",
        score: str = "dot",
        heads_join: str = "linear",
        attention_dropout: float = 0.0,
    ) -> None:
        if score not in SCORES:
            raise ValueError(f"GraphAttention: score must be one of {SCORES}, got {score!r}")
        dim = in_dim if out_dim is None else out_dim
        super().__init__(dim, heads, heads_join=heads_join, query_key=score == "dot", in_dim=in_dim)
        if impl not in IMPLS:
            raise ValueError(f"GraphAttention: impl must be one of {IMPLS}, got {impl!r}")
        self.impl, self.score = impl, score
        self.a_i = self.a_j = None
        if score == "additive":
            self.a_i = nn.Parameter(torch.empty(heads, self.head_dim))  # receiver half of a: [H, d_h]
            self.a_j = nn.Parameter(torch.empty(heads, self.head_dim))  # sender half of a: [H, d_h]
            self._reset_a()
        self.attention_drop = nn.Dropout(attention_dropout)

    def _reset_a(self) -> None:
        bound = math.sqrt(6.0 / (2 * self.head_dim + 1))  # Glorot over a's 2·d_h inputs and 1 output
        for half in (self.a_i, self.a_j):
            if half is not None:
                nn.init.uniform_(half, -bound, bound)

    def reset_parameters(self) -> None:
        """Every weight as at construction (the maps' default initialisation, ``a`` Glorot-uniform)."""
        super().reset_parameters()
        if self.a_i is not None:
            self._reset_a()

    def forward(self, x: Tensor, edge_index: Tensor, *, return_weights: bool = False):
        check_layer_inputs("GraphAttention", x, edge_index, dim=self.in_channels)
        i = edge_index[1]  # receivers: [E]
        N = x.shape[0]
        q, k, v = self.split(x, self.impl)  # each [N, H, d_h] (q, k: None with the additive score)
        if q is None or k is None:
            assert self.a_i is not None and self.a_j is not None  # the additive score: no W_q, W_k, and a
            j = edge_index[0]  # senders: [E]
            s_i, s_j = (v * self.a_i).sum(-1), (v * self.a_j).sum(-1)  # a_iᵀ W x_i, a_jᵀ W x_j: [N, H]
            scores = F.leaky_relu(s_i[i] + s_j[j], 0.2)  # [E, H]
        else:
            scores = self.beta * edge_dot(q, k, edge_index, impl=self.impl)  # β k_j·q_i: [E, H]
        a = segment_softmax(scores, i, N)  # [E, H]
        m = gather_scatter(self.attention_drop(a), v, edge_index, N, impl=self.impl)  # Σ_j a_ij v_j: [N, H, d_h]
        h = self.join(m)  # [N, dim]
        return (h, a) if return_weights else h
