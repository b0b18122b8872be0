"""The family's shared sparse primitives and the fused steps the layers run: the shared ``a``.

Public face: :mod:`gatedgcn.ops.segment` (segment sum / mean / max / count / softmax, gate
normalisation, padding) and the fused steps of the layers (``gated_edges``, ``gather_scatter``,
``edge_dot``, ``norm_relu_residual``).  The modules whose names start with ``_`` are private to
this package: kernels, the compiled library, the memory pool.
"""

from gatedgcn.ops._fused import (
    COMPILED_MIN_ELEMENTS,
    FUSED_MIN_ELEMENTS,
    IMPLS,
    compiled_for,
    edge_dot,
    gated_edges,
    gather_scatter,
    norm_relu_residual,
    update_running,
    worth_fusing,
)
from gatedgcn.ops.segment import (
    normalise_gates,
    pad_segments,
    segment_count,
    segment_max,
    segment_mean,
    segment_softmax,
    segment_sum,
)

__all__ = [
    "segment_sum",
    "segment_count",
    "segment_mean",
    "segment_max",
    "segment_softmax",
    "normalise_gates",
    "pad_segments",
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
