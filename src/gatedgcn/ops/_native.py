"""The compiled CPU kernels (``csrc/*.cpp``): built with the system's C++ compiler on first use, loaded with ctypes.

The sources use only the C++ standard library and OpenMP (no torch headers), so a build takes
a couple of seconds; at run time the library shares torch's OpenMP runtime and threads.  The
library is cached under ``$GATEDGCN_NATIVE_DIR`` (default ``~/.cache/gatedgcn/native``) in a
folder named after the hash of the source, the flags, the compiler and the CPU, so a changed
source or another machine gets its own build (``python -m gatedgcn.ops._native`` builds it ahead).
It is on by default; the documented setting ``GATEDGCN_NATIVE=0`` (read once, on first use) turns it off
(docs/performance.md has the measured gain over the PyTorch kernels).  Where there is no compiler or
the build fails, :func:`library` returns None with one warning and the gated op runs its PyTorch
kernels, which compute the same.

OpenMP: the library is built with ``-fopenmp`` only where torch itself runs on OpenMP
(``torch.__config__.parallel_info()``), so that its threads are torch's own (the runtime torch has
loaded); elsewhere the sweeps run on one thread.

Huge pages: :func:`empty` hands out the fused kernels' large ``[E, d]`` outputs (e', ê, ∂e).  glibc maps every
block of 32 MiB or more afresh and unmaps it when freed, so each step faults in every page of them again: on this
project's virtual machine (2026-12-02, one thread) the first fill of a fresh 168 MB tensor took 59–61 ms against
5–7 ms for a second fill, and the system time of a gated layer's step exceeded its user time.  Where the kernel
grants transparent huge pages on request (``/sys/kernel/mm/transparent_hugepage/enabled`` is ``[madvise]``, read
once), :func:`empty` asks for them (``madvise(MADV_HUGEPAGE)`` on the whole 2 MiB pages inside the new block, before
anything touches it): 512 times fewer faults, and the same first fill took 11–12 ms (the very first in the process
394 ms, the kernel assembling huge pages).  It is a hint, with no effect on values; elsewhere :func:`empty` is
``new_empty``.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

__all__ = ["FLAGS", "SOURCE", "build", "empty", "enabled", "library", "openmp_flags"]

SOURCE = Path(__file__).resolve().parent / "csrc" / "gated_edges.cpp"
# -fno-trapping-math lets the compiler turn the clamps and ReLU masks into vector blends.
FLAGS = ("-O3", "-march=native", "-fno-math-errno", "-fno-trapping-math", "-std=c++17", "-shared", "-fPIC")
# Tried first where torch runs on OpenMP; a compiler without OpenMP (e.g. Apple's clang) builds the sweeps
# one thread after another.
OPENMP = ("-fopenmp",)

_P = ctypes.c_void_p
_I = ctypes.c_int64
_T = ctypes.c_int
_CODE = {_P: "p", _I: "q", _T: "i"}  # as csrc's gatedgcn_signature() spells the types
# The one declaration of the interface: name -> argument types (float and double versions share them;
# pointers are passed as ints).  Checked against the library when it is loaded (:func:`_declare`).
SIGNATURES = {
    "gated_forward": (_I, _I, _P, _P, _P, _P, _P, _I, _P, _P, _P, _T, _T, _P, _P, _P),
    "gated_norm": (_I, _I, _P, _P, _P, _P, _P, _P, _T, _T),
    "gated_backward_states": (_I, _I, _P, _P, _P, _P, _I, _P, _P, _P, _P, _P, _P, _I, _T, _T, _P),
    "gated_backward_receivers": (_I, _I, _P, _P, _I, _P, _P, _P, _P, _P, _I, _P, _P, _P, _P, _P, _T, _T, _P, _P, _P),
    "gated_backward_senders": (_I, _I, _P, _P, _P, _P, _P, _T, _T, _P, _P),
}


@functools.cache
def enabled() -> bool:
    """Whether the library is wanted: yes unless the setting ``GATEDGCN_NATIVE`` is 0, off, false or no (read once)."""
    return os.environ.get("GATEDGCN_NATIVE", "1").strip().lower() not in ("0", "off", "false", "no")


def openmp_flags() -> tuple[str, ...]:
    """:data:`OPENMP` where torch's intra-op threads are OpenMP's, else none."""
    import torch

    return OPENMP if "parallel backend: OpenMP" in torch.__config__.parallel_info() else ()


def _compiler() -> str | None:
    return shutil.which(os.environ.get("CXX", "c++")) or shutil.which("g++") or shutil.which("clang++")


def _cpu() -> str:
    """What ``-march=native`` depends on: the CPU's model and feature flags where the OS tells them."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor()
    wanted = [line for line in lines if line.startswith(("model name", "flags", "Features", "CPU part"))]
    return "\n".join(dict.fromkeys(wanted))  # first occurrence of each


def _cache_dir() -> Path:
    root = os.environ.get("GATEDGCN_NATIVE_DIR")
    if root:
        return Path(root)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gatedgcn" / "native"


@functools.cache
def _version(compiler: str) -> str:
    return subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=60).stdout


def _target(compiler: str, flags: tuple[str, ...]) -> Path:
    version = _version(compiler)
    key = hashlib.sha256("\0".join([SOURCE.read_text(), " ".join(flags), version, platform.machine(), _cpu()]).encode())
    return _cache_dir() / key.hexdigest()[:16] / "libgatedgcn.so"


def build() -> Path:
    """Compile :data:`SOURCE` (unless the cache has it) and return the library's path; raises on failure.

    With :func:`openmp_flags` where the compiler takes them, else without."""
    compiler = _compiler()
    if compiler is None:
        raise RuntimeError("no C++ compiler found (set CXX)")
    openmp = openmp_flags()
    if openmp:
        try:
            return _build(compiler, FLAGS + openmp)
        except RuntimeError:
            pass
    return _build(compiler, FLAGS)


def _build(compiler: str, flags: tuple[str, ...]) -> Path:
    target = _target(compiler, flags)
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(fd)
    try:
        run = subprocess.run([compiler, *flags, str(SOURCE), "-o", tmp], capture_output=True, text=True, timeout=600)
        if run.returncode != 0:
            raise RuntimeError(f"{compiler} failed on {SOURCE.name}:\n{run.stderr.strip()[-2000:]}")
        os.replace(tmp, target)  # atomic: processes building at once each publish a whole library
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def library() -> ctypes.CDLL | None:
    """The loaded library, built if needed; None where it is turned off (:func:`enabled`) or cannot be built
    (then after one warning)."""
    return _load() if enabled() else None


@functools.cache
def _load() -> ctypes.CDLL | None:
    try:
        lib = ctypes.CDLL(str(build()))
    except (OSError, RuntimeError, subprocess.SubprocessError) as err:
        warnings.warn(
            f"gatedgcn: the compiled CPU kernels are unavailable, using the PyTorch ones ({err})",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    try:
        _declare(lib)
    except RuntimeError as err:
        warnings.warn(f"gatedgcn: the compiled CPU kernels are unavailable ({err})", RuntimeWarning, stacklevel=2)
        return None
    return lib


def _declare(lib: ctypes.CDLL) -> None:
    """Give every export its :data:`SIGNATURES` after checking them against the library's own account of its
    functions' argument types (``gatedgcn_signature``, read off the C++ declarations)."""
    lib.gatedgcn_signature.argtypes, lib.gatedgcn_signature.restype = (ctypes.c_char_p,), ctypes.c_char_p
    for name, argtypes in SIGNATURES.items():
        want = "".join(_CODE[t] for t in argtypes)
        for suffix in ("f32", "f64"):
            export = f"{name}_{suffix}"
            got = lib.gatedgcn_signature(export.encode())
            if got is None or got.decode() != want:
                raise RuntimeError(f"{export} takes ({got and got.decode()}), the loader declares ({want})")
            fn = getattr(lib, export)
            fn.argtypes, fn.restype = argtypes, None


# Blocks from this size come from a fresh mapping every time (glibc's largest mmap threshold): the huge pages pay.
HUGE_MIN_BYTES = 32 << 20
_HUGE_PAGE = 2 << 20
_MADV_HUGEPAGE = 14  # <sys/mman.h>, Linux


@functools.cache
def _madvise():
    """libc's ``madvise`` where transparent huge pages are given on request only (``[madvise]``), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        mode = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
    except OSError:
        return None
    if "[madvise]" not in mode:
        return None  # [always]: the kernel gives them unasked; [never]: not at all
    fn = ctypes.CDLL(None, use_errno=True).madvise
    fn.argtypes, fn.restype = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int), ctypes.c_int
    return fn


def empty(like, shape):
    """``like.new_empty(shape)``, backed by transparent huge pages where that helps (module docstring)."""
    t = like.new_empty(shape)
    madvise = _madvise() if t.device.type == "cpu" and t.nbytes >= HUGE_MIN_BYTES else None
    if madvise is not None:
        start = -(-t.data_ptr() // _HUGE_PAGE) * _HUGE_PAGE  # the whole 2 MiB pages inside the block
        stop = (t.data_ptr() + t.nbytes) // _HUGE_PAGE * _HUGE_PAGE
        if stop > start:
            madvise(start, stop - start, _MADV_HUGEPAGE)  # a hint: a refusal changes nothing
    return t


if __name__ == "__main__":  # python -m gatedgcn.ops._native: build at set-up
    print(build())
