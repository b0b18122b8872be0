"""The family's shared sparse primitives and the fused steps the layers run: the shared ``a``.

Public face: the primitives of :mod:`gatedgcn.ops.segment` (segment sum / mean / max / count / softmax,
gate normalisation, padding) and the steps the layers need, each a ``torch.library`` op that picks its
kernel by device and size (:mod:`gatedgcn.ops._select`):

- :func:`gated_edges`         ``ê = C e + D x_j + E x_i``, ``m_i = Σ_j η_ij ⊙ B x_j``, ``e' = e + ReLU(BN(ê))``
  (``gatedgcn::gated_edges``, :mod:`gatedgcn.ops.gated`)
- :func:`norm_relu_residual`  ``y = r + ReLU(BN(s ⊙ t))`` (``gatedgcn::norm_relu_residual``, :mod:`gatedgcn.ops.norm`)
- :func:`gather_scatter`      ``out_i = Σ_{j→i} w_ij x_j`` (``gatedgcn::gather_scatter``, :mod:`gatedgcn.ops.edges`)
- :func:`edge_dot`            ``s_ij = q_i · k_j`` (``gatedgcn::edge_dot``, :mod:`gatedgcn.ops.edges`)
- :func:`linear`              ``y = x Wᵀ + b`` (``gatedgcn::linear``, :mod:`gatedgcn.ops.linear_maps`: oneDNN's CPU kernel
  where it is the faster)

:func:`free_cores` (the CPUs less the cores other processes keep busy) is what the gated op asks before its sweeps,
and what ``gatedgcn train`` asks before each step (:mod:`gatedgcn.train.threads`).  :func:`keep_freed_memory`
(:mod:`gatedgcn.ops.heap`) keeps the memory one step frees in the process for the next, where glibc would hand it
back to the OS (``gatedgcn train`` calls it once, ``train.keep_freed_memory``).

Every step takes ``impl="reference"`` for the plain equations (the tested reference), and
:func:`fused_kernels` forces the fused kernels on at every size.  The modules whose names start with
``_`` are private: the kernels, the compiled library, the choice of kernel.  Importing builds nothing.
"""

from gatedgcn.ops._batchnorm import update_running
from gatedgcn.ops._cores import free_cores
from gatedgcn.ops._select import MIN_ELEMENTS, fused_kernels
from gatedgcn.ops.edges import edge_dot, gather_scatter
from gatedgcn.ops.gated import gated_edges
from gatedgcn.ops.heap import keep_freed_memory
from gatedgcn.ops.linear_maps import linear
from gatedgcn.ops.norm import norm_relu_residual
from gatedgcn.ops.segment import (
    normalise_gates,
    pad_segments,
    segment_count,
    segment_max,
    segment_mean,
    segment_softmax,
    segment_sum,
)

IMPLS = ("fast", "reference")

__all__ = [
    "IMPLS",
    "MIN_ELEMENTS",
    "edge_dot",
    "free_cores",
    "fused_kernels",
    "gated_edges",
    "gather_scatter",
    "keep_freed_memory",
    "linear",
    "norm_relu_residual",
    "normalise_gates",
    "pad_segments",
    "segment_count",
    "segment_max",
    "segment_mean",
    "segment_softmax",
    "segment_sum",
    "update_running",
]
