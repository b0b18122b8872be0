"""Reading pickles of numpy arrays and scipy.sparse matrices without trusting them.

A pickle is a program: unpickling calls whatever functions it names.  :class:`SafeUnpickler`
resolves only an allow-list of names, and none of them to the real numpy / scipy constructors:
arrays, dtypes and sparse matrices are first built as inert records (:class:`ArrayRecord`,
:class:`SparseRecord`) whose parts are checked (numeric dtype, shape that matches the bytes,
csr/csc index structure) before a real array is made from them.  A name outside the list
(``os.system``, say) is refused before anything is called, and a corrupt pickle ends in
:class:`DataError`, never in a crash inside numpy or scipy.

The pure-Python unpickler is used (``pickle._Unpickler``): its memo is a dict, so a corrupt
memo index cannot make it allocate a huge table.  What it builds is bounded: an object shared by
reference is resolved once (a 200-byte pickle of lists nested in pairs of one shared list would
otherwise unfold into 2^L copies), at most :data:`MAX_OBJECTS` containers and :data:`MAX_DEPTH`
levels of nesting, and a sparse matrix's dense form at most :data:`MAX_DENSE` entries.
"""

from __future__ import annotations

import codecs
import collections
import io
import pickle
import stat
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from gatedgcn.errors import DataError

__all__ = ["ArrayRecord", "SparseRecord", "SafeUnpickler", "safe_load_pickle", "to_array"]

DTYPES = {"b1", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8"}  # numeric dtypes only
MAX_ENTRIES = 1 << 28  # entries of one pickled array (its bytes are in the file)
MAX_DENSE = 1 << 25  # entries of a sparse matrix made dense (PubMed's features: 10 million; 256 MiB as float64)
MAX_OBJECTS = 1 << 22  # distinct containers and records in one pickle
MAX_DEPTH = 100  # levels of nesting


class _DTypeRecord:
    """``numpy.dtype(name, align, copy)`` then ``__setstate__((version, byte order, ...))``."""

    def __init__(self, name: Any = None, *_: Any) -> None:
        name = name.decode("latin1") if isinstance(name, bytes) else name
        if name not in DTYPES:
            raise ValueError(f"dtype {name!r} is not a plain numeric dtype")
        self.name, self.order = name, "="

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, tuple) or len(state) < 2 or state[1] not in ("<", ">", "|", "="):
            raise ValueError("malformed dtype state")
        self.order = state[1]

    def dtype(self) -> np.dtype:
        return np.dtype(("|" if self.name[1] == "1" else self.order) + self.name)


class ArrayRecord:
    """``numpy.core.multiarray._reconstruct(ndarray, shape, typecode)`` then ``__setstate__(state)``."""

    def __init__(self, *_: Any) -> None:
        self.array: np.ndarray | None = None

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise ValueError("malformed array state")
        shape, dtype, fortran, raw = state[-4:]
        if not isinstance(dtype, _DTypeRecord):
            raise ValueError("array dtype is not a numeric dtype")
        if not isinstance(shape, tuple) or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape
        ):
            raise ValueError(f"array shape {shape!r} is not a tuple of sizes")
        raw = raw.encode("latin1") if isinstance(raw, str) else raw
        dt = dtype.dtype()
        count = int(np.prod(shape, dtype=object))
        if not isinstance(raw, bytes) or count > MAX_ENTRIES or len(raw) != count * dt.itemsize:
            raise ValueError(
                f"array of shape {shape} and dtype {dt} does not match its {len(raw) if isinstance(raw, bytes) else '?'} bytes"
            )
        self.array = np.frombuffer(raw, dtype=dt).reshape(shape, order="F" if fortran else "C").copy()


class SparseRecord:
    """A pickled ``csr_matrix`` / ``csc_matrix``: its attribute dict, kept until :func:`to_array` checks it."""

    format = "csr"

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise ValueError("malformed sparse matrix state")
        self.state = state


class _CSC(SparseRecord):
    format = "csc"


class _NDArrayName:
    """What the name ``numpy.ndarray`` stands for: a mark for ``_reconstruct``, not a constructor."""


def _reconstruct(cls: Any, shape: Any, typecode: Any) -> ArrayRecord:
    if cls is not _NDArrayName:
        raise ValueError("_reconstruct of something other than an ndarray")
    return ArrayRecord()


# (module, name) as written in the pickle -> what the name stands for here
_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): _NDArrayName,
    ("numpy", "dtype"): _DTypeRecord,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("__builtin__", "list"): list,  # Python 2 name
    ("builtins", "list"): list,
    ("collections", "defaultdict"): collections.defaultdict,
    ("_codecs", "encode"): codecs.encode,  # str -> bytes: how Python 3 writes bytes at protocol 2
    **{(module, "csr_matrix"): SparseRecord for module in ("scipy.sparse.csr", "scipy.sparse._csr", "scipy.sparse")},
    **{(module, "csc_matrix"): _CSC for module in ("scipy.sparse.csc", "scipy.sparse._csc", "scipy.sparse")},
}


class SafeUnpickler(pickle._Unpickler):
    """Resolves only the names of ``_ALLOWED``; everything else is refused with :class:`DataError`."""

    def __init__(self, file: Any, *, where: str) -> None:
        super().__init__(file, encoding="latin1", fix_imports=False)
        self.where = where

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise DataError(
                f"{self.where}: refused to unpickle {module}.{name} (only numpy arrays and scipy.sparse matrices are allowed)"
            )
        return _ALLOWED[(module, name)]


class _Resolver:
    """Replaces every :class:`ArrayRecord` by its checked array (recursively through lists, dicts, tuples),
    each shared object once, within :data:`MAX_OBJECTS` and :data:`MAX_DEPTH`."""

    def __init__(self, where: str) -> None:
        self.where, self.count = where, 0
        self.done: dict[int, Any] = {}  # id of a record -> its resolved value

    def __call__(self, obj: Any, depth: int = 0) -> Any:
        if not isinstance(obj, (ArrayRecord, SparseRecord, dict, list, tuple, _DTypeRecord)):
            return obj
        if id(obj) in self.done:
            return self.done[id(obj)][1]
        if depth > MAX_DEPTH:
            raise DataError(f"{self.where}: objects nested more than {MAX_DEPTH} levels deep")
        self.count += 1
        if self.count > MAX_OBJECTS:
            raise DataError(f"{self.where}: more than {MAX_OBJECTS:,} objects")
        out = self._resolve(obj, depth + 1)
        self.done[id(obj)] = (obj, out)  # obj kept alive: its id stays its own
        return out

    def _resolve(self, obj: Any, depth: int) -> Any:
        if isinstance(obj, ArrayRecord):
            if obj.array is None:
                raise DataError(f"{self.where}: an array without its data")
            return obj.array
        if isinstance(obj, SparseRecord):
            obj.state = self(getattr(obj, "state", None), depth)
            return obj
        if isinstance(obj, dict):
            items = {k: self(v, depth) for k, v in obj.items()}
            return type(obj)(obj.default_factory, items) if isinstance(obj, collections.defaultdict) else items
        if isinstance(obj, (list, tuple)):
            return type(obj)(self(v, depth) for v in obj)
        raise DataError(f"{self.where}: a bare dtype where data was expected")


def safe_load_pickle(path: Path) -> Any:
    """Unpickle ``path``: numpy arrays come back checked, sparse matrices as :class:`SparseRecord`."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):  # a device (/dev/zero) or a fifo would be read forever
            raise DataError(f"{path}: not a plain file")
        data = path.read_bytes()
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as err:
        raise DataError(f"{path}: cannot read: {err.strerror}") from None
    if not data:
        raise DataError(f"{path}: file is empty")
    try:
        return _Resolver(str(path))(SafeUnpickler(io.BytesIO(data), where=str(path)).load())
    except DataError:
        raise
    except Exception as err:  # a corrupt pickle fails in many ways inside the unpickler or our records
        raise DataError(f"{path}: not a valid pickle of numpy/scipy objects ({type(err).__name__}: {err})") from None


def to_array(value: Any, where: str, what: str) -> np.ndarray:
    """A finite 2-D float64 array from an array or a checked csr/csc record.  Shapes: -> ``[R, C]``."""
    if isinstance(value, SparseRecord):
        try:
            state = value.state
            data, indices, indptr, shape = state["data"], state["indices"], state["indptr"], tuple(state["_shape"])
            if not all(isinstance(a, np.ndarray) and a.ndim == 1 for a in (data, indices, indptr)):
                raise ValueError("data, indices and indptr must be 1-D arrays")
            if len(shape) != 2 or not all(isinstance(n, int) and n >= 0 for n in shape):
                raise ValueError(f"shape {shape} is not the shape of a 2-D matrix")
            if shape[0] * shape[1] > MAX_DENSE:
                raise DataError(
                    f"{where}: the sparse matrix of {what} has shape {shape}: {8 * shape[0] * shape[1] / 2**30:,.1f} GiB "
                    f"as a dense float64 matrix, more than the {MAX_DENSE:,} entries ({8 * MAX_DENSE >> 20} MiB) allowed"
                )
            matrix = (sp.csr_matrix if value.format == "csr" else sp.csc_matrix)((data, indices, indptr), shape=shape)
            matrix.check_format(full_check=True)
            value = matrix.toarray()
        except DataError:
            raise
        except Exception as err:  # anything wrong in the parts of a pickled matrix
            raise DataError(f"{where}: malformed sparse matrix of {what} ({type(err).__name__}: {err})") from None
    if not isinstance(value, np.ndarray) or value.ndim != 2:
        raise DataError(
            f"{where}: expected a 2-D matrix of {what}, got {type(value).__name__} {getattr(value, 'shape', '')}"
        )
    value = value.astype(np.float64)
    if not np.isfinite(value).all():
        raise DataError(f"{where}: the matrix of {what} has a non-finite value")
    return value
