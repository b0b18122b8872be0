"""Which kernel runs an op: the plain equations, the PyTorch chunked kernels, or the compiled CPU sweeps.

Every op of :mod:`gatedgcn.ops` with a fused form asks :func:`fused` whether its fused kernels pay for
an edge tensor of ``elements`` elements (below the threshold the plain equations run: small fresh
tensors come from reused heap memory, and the plain code is as fast); the gated op then asks
:func:`compiled` whether its compiled CPU sweeps run.  :func:`fused_kernels` forces the fused kernels
on at every size, in small chunks (the tests hold them against the dense equations there).

The thresholds are per op, each set from its own sweep (``benchmarks/bench.py thresholds``: one layer,
d = 70, forward + backward, one thread, fused forced on against the plain equations at 2^14–2^22 edge
elements; ``docs/performance.md``, "Thresholds"), run twice on a quiet machine on 2026-12-02 at 13:21 (the stored,
rendered one) and 13:22 (``--no-save``), code at e2fdb7e: each threshold is the larger of the two runs' smallest
size from which the fused path won by more than 1.05× at that size and every larger one.  Measured (plain time /
fused time, first run; second run in brackets):

- ``gated_edges_compiled`` 2^17: 1.11× (1.26×) at 2^17, 1.30–3.88× (1.55–3.69×) above; 1.05× (0.91×) at 2^16;
- ``gated_edges`` (the PyTorch kernels, where the compiled ones cannot run) 2^18: 1.19× (1.17×) at 2^18,
  1.50–2.87× (1.51–2.53×) above; 1.00× (1.16×) at 2^17;
- ``gather_scatter`` (GCN) 2^20: 1.46× (1.43×) at 2^20, 1.70–1.75× (1.89–2.61×) above; 1.19× (1.01×) at 2^19;
- ``edge_dot`` (attention) 2^19: 1.05× (1.06×) at 2^19, 1.09–2.88× (1.30–3.77×) above; 1.16× (0.82×) at 2^18;
- ``norm_relu_residual`` 2^22: 1.45× (1.03×) at 2^22, 0.39–0.74× (0.36–1.06×) below, so it runs from 2^22 only,
  where it keeps only ``t``.

An earlier sweep at load average 10 (02:27) gave 2^16, 2^18, 2^20, 2^20 and 2^22.

Above both gated thresholds the compiled sweeps run where they can, not the PyTorch kernels.  On the PATTERN-sized
batch (E·d = 41.9M, beyond the sweep; ``bench.py layers --threads 1 2 --reps 9 --no-shuffled --skip reference``,
2026-12-02 12:34–12:38, quiet machine, load average 0.5–1.3) a step took 0.680 s with the compiled sweeps against
0.778 s with the PyTorch kernels at 1 torch thread, and 0.445 against 0.575 s at 2; beside a busy-looping process
(``--contention``, 12:38–12:41) 0.762 against 2.328 s at 2 threads (the compiled ones run on the free cores,
:mod:`gatedgcn.ops._cores`; the PyTorch ones open hundreds of parallel regions, each waiting for a thread without a
core).  Later the same day (14:42–14:58, code at ae7af83) the order reversed in the round robin with PyG's layer in
the same process: 3.59 against 1.19 s at 1 thread, 1.12 against 0.69 s at 2, the compiled path's first fills of its
huge-page outputs growing from step to step (``docs/performance.md``); run alone, the compiled path took 0.74 s at 1
thread.  At 15:23 (f2292d7): 1.12 against 0.87 s at 1 thread, 0.645 against 0.672 s at 2.  An earlier measurement
at 1 thread with two training processes beside it (07:11–07:54, load 3.2–3.9) had the PyTorch kernels ahead (1.38
against 3.42 s).  The choice is not made by thread count.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

from gatedgcn.ops import _native

__all__ = [
    "CHUNK_ELEMENTS",
    "KEEP_E_HAT_BELOW",
    "MIN_ELEMENTS",
    "chunk_rows",
    "compiled",
    "forced_any",
    "forced_chunks",
    "fused",
    "fused_kernels",
    "keeps_e_hat",
]

# Elements of an edge tensor from which each op's fused kernels run (the sweep above; docs/performance.md, "Thresholds").
MIN_ELEMENTS = {
    "gated_edges": 1 << 18,  # the PyTorch chunked kernels
    "gated_edges_compiled": 1 << 17,  # the compiled CPU sweeps
    "norm_relu_residual": 1 << 22,
    "gather_scatter": 1 << 20,
    "edge_dot": 1 << 19,
}
# Elements of one chunk: cache-sized on a CPU, large enough on a GPU to keep the device busy.
CHUNK_ELEMENTS = {"cpu": 1 << 19, "cuda": 1 << 24}
_COMPILED_DTYPES = (torch.float32, torch.float64)
# Below this many edge elements the gated op keeps forward's ê for backward (its [E, d] held from forward to backward,
# 16 MiB of float32 at most) instead of recomputing it there (a C e matmul and a sweep over the edges saved):
# molecule batches keep it, the PATTERN-sized batch (E·d = 41.9M, where ê is 160 MiB a layer) recomputes it.
KEEP_E_HAT_BELOW = 1 << 22


@dataclass
class _Forced:
    """What :func:`fused_kernels` set: None outside it."""

    chunk_rows: int | None = None
    compiled: bool = True
    keep_e_hat: bool | None = None


@dataclass
class _State:
    forced: _Forced | None = None
    stack: list = field(default_factory=list)


_STATE = _State()


def _library_available() -> bool:
    return _native.library() is not None


# torch.compile takes the answer as a constant (no graph break at the ctypes load).  This is what
# torch.compiler.assume_constant_result does, without importing torch._dynamo at import (2-5 s of every command's
# start here); tests/test_ops_registered.py's torch._dynamo.explain test holds that no graph break comes back.
_library_available._dynamo_marked_constant = True  # type: ignore[attr-defined]


def compiled(elements: int, *tensors: torch.Tensor) -> bool:
    """Whether the gated op runs its compiled CPU sweeps on these tensors (all on the CPU, all float32 or
    all float64, the library built, and ``elements`` past its threshold)."""
    forced = _STATE.forced
    if forced is not None and not forced.compiled:
        return False
    dtype = tensors[0].dtype
    if dtype not in _COMPILED_DTYPES or any(t.device.type != "cpu" or t.dtype != dtype for t in tensors):
        return False
    if forced is None and elements < MIN_ELEMENTS["gated_edges_compiled"]:
        return False
    return _library_available()


def fused(op: str, elements: int, *tensors: torch.Tensor) -> bool:
    """Whether ``op`` runs its fused kernels (not the plain equations) for an edge tensor of ``elements``."""
    if _STATE.forced is not None or elements >= MIN_ELEMENTS[op]:
        return True
    return op == "gated_edges" and compiled(elements, *tensors)


def keeps_e_hat(elements: int) -> bool:
    """Whether the gated op keeps forward's ê for backward (:data:`KEEP_E_HAT_BELOW`) rather than recomputing it."""
    forced = _STATE.forced
    if forced is not None and forced.keep_e_hat is not None:
        return forced.keep_e_hat
    return elements < KEEP_E_HAT_BELOW


def forced_any() -> bool:
    """Whether :func:`fused_kernels` is in force (every op on its fused kernels at every size)."""
    return _STATE.forced is not None


def forced_chunks() -> bool:
    """Whether :func:`fused_kernels` set the rows of a chunk."""
    return _STATE.forced is not None and _STATE.forced.chunk_rows is not None


def chunk_rows(width: int, device: torch.device) -> int:
    """Rows of one chunk of a ``width``-wide tensor."""
    forced = _STATE.forced
    if forced is not None and forced.chunk_rows is not None:
        return forced.chunk_rows
    return max(64, CHUNK_ELEMENTS.get(device.type, 1 << 24) // max(width, 1))


@contextlib.contextmanager
def fused_kernels(
    *, chunk_rows: int | None = 64, compiled: bool = True, keep_e_hat: bool | None = None
) -> Iterator[None]:
    """Within: every op runs its fused kernels at every size, ``chunk_rows`` rows at a time (None: the usual
    chunks); ``compiled=False``: the PyTorch kernels even where the compiled CPU sweeps could run; ``keep_e_hat``
    True / False: the gated op keeps forward's ê for backward / recomputes it there at any size (None: by size).

    For tests and measurements: a few hundred edges then cross several chunk boundaries.  The setting is the
    process's (every thread sees it), restored on leaving; nest it, do not interleave it across threads."""
    _STATE.stack.append(_STATE.forced)
    _STATE.forced = _Forced(chunk_rows, compiled, keep_e_hat)
    try:
        yield
    finally:
        _STATE.forced = _STATE.stack.pop()
