"""The process's heap between training steps: freed blocks kept for the next step instead of handed back to the OS.

Each training step frees what the step before allocated and allocates it again.  glibc's ``malloc`` serves a
block of at least its mmap threshold with a fresh ``mmap`` (and unmaps it on ``free``), and hands the free memory at
the top of its heap back to the OS once there is more than its trim threshold; both thresholds move with the
largest block freed so far.  A block the OS took back costs a page fault on every 4 KiB page when the next step
writes to it: the molecule step of ``benchmarks/bench.py molecules`` (4 gated layers, width 70, 128 molecules;
AMD EPYC family 26 in a Firecracker VM, 1 thread, each implementation alone in a fresh process, 2026-12-02) made
2,600–3,500 page faults a step, 5–8 ms of system time in a 33–45 ms step, and ran in 24–28 ms without them; PyG's
made 1,800–2,800 (``docs/performance.md``, the molecule sections).

:func:`keep_freed_memory` fixes both thresholds (``mallopt``): blocks below :data:`MMAP_FROM` come from the heap,
and up to :data:`TRIM_FROM` of free memory stays at its top.  The process keeps what its largest step needed
(as the CUDA caching allocator does for GPU memory); larger blocks (the ``[E, d]`` tensors of a large graph) are
still mapped and unmapped for themselves.  It changes the whole process, so it is never done at import:
``gatedgcn train`` calls it once (the setting ``train.keep_freed_memory``, on by default), and a loop of one's
own may call it.  Where the C library is not glibc (macOS, musl) it does nothing and says so.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

__all__ = ["MMAP_FROM", "TRIM_FROM", "keep_freed_memory"]

MMAP_FROM = 32 << 20  # bytes: blocks from this size are mapped for themselves (glibc's largest dynamic threshold)
TRIM_FROM = 256 << 20  # bytes of free memory at the heap's top from which glibc hands it back to the OS
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameters (<malloc.h>)


@functools.cache
def _mallopt():
    """glibc's ``mallopt``, or None where the C library has none (not glibc)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
        libc.gnu_get_libc_version  # noqa: B018  (glibc's own symbol: musl also has a mallopt, which does nothing)
    except (OSError, AttributeError, TypeError):
        return None
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return mallopt


def keep_freed_memory(mmap_from: int = MMAP_FROM, trim_from: int = TRIM_FROM) -> bool:
    """Fix glibc's mmap threshold at ``mmap_from`` and its trim threshold at ``trim_from`` bytes (module docstring).

    -> whether both were set (False where the C library is not glibc, or a value was refused).  Calling it again
    sets the same values again."""
    if not 0 < mmap_from < 1 << 31 or not 0 < trim_from < 1 << 31:
        raise ValueError(f"keep_freed_memory: thresholds must lie in (0, 2 GiB), got {mmap_from}, {trim_from}")
    mallopt = _mallopt()
    if mallopt is None:
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, mmap_from)) and bool(mallopt(_M_TRIM_THRESHOLD, trim_from))
