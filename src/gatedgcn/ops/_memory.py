"""Large CPU outputs of the fused kernels from a pool of reused blocks.

A large new tensor on the CPU comes from fresh ``mmap`` memory, which the operating system maps
and zeroes page by page on first touch.  For an edge-sized ``[E, d]`` tensor that first write
costs more than the arithmetic around it, and on a virtual machine it varies from run to run
(filling a fresh 168 MB tensor took 48 ms on the 2-core machine of docs/performance.md, sometimes
twice that).  The fused kernels make three such tensors per gated layer (ê, e', ∂e), node tables
and chunk work buffers in every step of training.

:func:`empty` and :func:`zeros` hand out tensors whose memory belongs to a block of this pool (a
numpy array the tensor holds on to).  A block is free again once no tensor uses it any more:
``torch.from_numpy`` keeps one reference to the array for as long as any view of its memory
lives, so the pool can tell without help from the caller.  A free block is given out again for a
request of its size or somewhat smaller; a block that stays free for :data:`KEEP_FREE` requests
is dropped, and :func:`release` drops all free blocks at once.  New blocks are backed by 2 MiB
pages where Linux allows (``madvise(MADV_HUGEPAGE)``: five times cheaper to touch first).

Tensors under :data:`MIN_BYTES`, CUDA tensors, or everything with ``GATEDGCN_POOL=0`` go to
``torch.empty``; the values are the same either way.
"""

from __future__ import annotations

import ctypes
import functools
import math
import os
import sys
import threading

import numpy as np
import torch
from torch import Tensor

__all__ = ["empty", "zeros", "release", "pooled_bytes", "MIN_BYTES", "KEEP_FREE"]

HUGE_PAGE = 2 << 20  # bytes of one transparent huge page on x86-64 and most arm64 kernels
MIN_BYTES = 1 << 20  # smaller tensors come from reused heap memory anyway
KEEP_FREE = 64  # requests a free block waits for reuse before it is given back
SLACK = 1.25  # a block serves requests down to 1/SLACK of its size
_MADV_HUGEPAGE = 14
_NUMPY = {torch.float32: np.float32, torch.float64: np.float64, torch.int64: np.int64, torch.int32: np.int32}


@functools.cache
def _madvise():
    """libc's ``madvise``, or None where it cannot be used (not Linux, no libc, huge pages off)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            if "[never]" in f.read():
                return None
        fn = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return None
    fn.argtypes, fn.restype = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int], ctypes.c_int
    return fn


def _whole_pages(nbytes: int) -> int:
    return -(-nbytes // HUGE_PAGE) * HUGE_PAGE


def _new_block(nbytes: int) -> np.ndarray:
    """Untouched memory for ``nbytes`` bytes in whole 2 MiB pages from a 2 MiB boundary (:func:`_start`),
    asked to be backed by huge pages (a hint: failure is harmless)."""
    block = np.empty(_whole_pages(nbytes) + HUGE_PAGE, dtype=np.uint8)
    fn = _madvise()
    if fn is not None:
        fn(block.ctypes.data + _start(block), _whole_pages(nbytes), _MADV_HUGEPAGE)
    return block


def _start(block: np.ndarray) -> int:
    """Offset of the block's first 2 MiB boundary: tensors start there."""
    return -block.ctypes.data % HUGE_PAGE


def _capacity(block: np.ndarray) -> int:
    return block.nbytes - HUGE_PAGE


class _Pool:
    """Blocks (uint8 arrays) and, per block, the request count when it was last seen free."""

    def __init__(self) -> None:
        self.blocks: list[np.ndarray] = []
        self.seen_free: list[int] = []
        self.requests = 0
        self.lock = threading.Lock()
        # How many references :meth:`_refs` sees on a block nobody else holds, measured rather than assumed
        # (the count includes the interpreter's own temporary references, which differ between versions).
        self.blocks.append(np.empty(1, dtype=np.uint8))
        self.free_refs = self._refs(0)
        view = self.blocks[0][:]
        if self._refs(0) <= self.free_refs:
            raise RuntimeError("memory pool: this interpreter does not count a view's reference to its array")
        del view
        self.blocks.clear()

    def _refs(self, k: int) -> int:
        return sys.getrefcount(self.blocks[k])

    def _free(self, k: int) -> bool:
        # Free: only the pool's list holds block k.  Each tensor storage on the block holds one more
        # reference, through the array view it was made from.
        return self._refs(k) <= self.free_refs

    def take(self, nbytes: int) -> np.ndarray:
        """A free block of at least ``nbytes`` usable bytes (a new one when none fits)."""
        with self.lock:
            self.requests += 1
            best = None
            for k in range(len(self.blocks)):
                if not self._free(k):
                    self.seen_free[k] = self.requests
                    continue
                size = _capacity(self.blocks[k])
                if nbytes <= size <= max(SLACK * nbytes, _whole_pages(nbytes)) and (
                    best is None or size < _capacity(self.blocks[best])
                ):
                    best = k
            if best is None:
                self.blocks.append(_new_block(nbytes))
                self.seen_free.append(self.requests)
                best = len(self.blocks) - 1
            self.seen_free[best] = self.requests
            block = self.blocks[best]
            self._drop(lambda k: self.blocks[k] is not block and self.requests - self.seen_free[k] > KEEP_FREE)
            return block

    def _drop(self, stale) -> None:
        keep = [k for k in range(len(self.blocks)) if not (self._free(k) and stale(k))]
        self.blocks = [self.blocks[k] for k in keep]
        self.seen_free = [self.seen_free[k] for k in keep]

    def release(self) -> None:
        with self.lock:
            self._drop(lambda k: True)


_POOL = _Pool()


def _pooled(nbytes: int, like: Tensor) -> bool:
    return (
        nbytes >= MIN_BYTES
        and like.device.type == "cpu"
        and like.dtype in _NUMPY
        and os.environ.get("GATEDGCN_POOL", "1") != "0"
    )


def empty(shape: tuple[int, ...], like: Tensor) -> Tensor:
    """``like.new_empty(shape)`` (uninitialised), from the pool when it is a large CPU tensor."""
    nbytes = math.prod(shape) * like.element_size()
    if not _pooled(nbytes, like):
        return like.new_empty(shape)
    block = _POOL.take(nbytes)
    lo = _start(block)
    flat = block[lo : lo + nbytes].view(_NUMPY[like.dtype])
    return torch.from_numpy(flat).view(shape)


def zeros(shape: tuple[int, ...], like: Tensor) -> Tensor:
    """``like.new_zeros(shape)``, from the pool when it is a large CPU tensor."""
    return empty(shape, like).zero_()


def release() -> None:
    """Give the memory of all free blocks back (blocks still used by a tensor stay)."""
    _POOL.release()


def pooled_bytes() -> tuple[int, int]:
    """``(in use, free)`` bytes of the pool's blocks."""
    with _POOL.lock:
        used = sum(_POOL.blocks[k].nbytes for k in range(len(_POOL.blocks)) if not _POOL._free(k))
        return used, sum(b.nbytes for b in _POOL.blocks) - used
