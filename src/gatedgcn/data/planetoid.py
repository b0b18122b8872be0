"""The Planetoid citation graphs (Yang et al. 2016): Cora, CiteSeer, PubMed with the public split.

    ind.NAME.x, .y         features / one-hot labels of the labelled training nodes (scipy.sparse, numpy)
    ind.NAME.allx, .ally   features / labels of every node that is not a test node
    ind.NAME.tx, .ty       features / labels of the test nodes, in the order of ``test.index``
    ind.NAME.graph         {node: [neighbours]}
    ind.NAME.test.index    one node id per line

The files are Python 2 pickles.  They are read by :class:`SafeUnpickler`, which builds only
numpy arrays, scipy.sparse matrices, lists and a defaultdict: a pickle naming anything else
(``os.system``, say) is refused before it is called.

Node order as in Kipf & Welling: ``allx`` rows, then the test rows placed at their
``test.index``.  Test ids missing from the range ``[min, max]`` of ``test.index`` (CiteSeer) get
zero features and no label.  Public split: the first ``len(y)`` nodes train (20 per class),
the next 500 validate, ``test.index`` tests.  Features are row-normalised (rows sum to 1).
Each split holds the same graph, whose labels outside that split are -1 (ignored by the
objective and the metrics).
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gatedgcn.data.dataset import Dataset, Task
from gatedgcn.data.splits import mask_labels
from gatedgcn.data.textfile import dataset_folder, read_table
from gatedgcn.errors import DataError
from gatedgcn.graph import Graph

__all__ = ["SafeUnpickler", "safe_load_pickle", "read_planetoid", "build_planetoid"]

NUM_VAL = 500
PARTS = ("x", "y", "tx", "ty", "allx", "ally", "graph")


def _sparse(name: str) -> Any:
    import scipy.sparse

    return getattr(scipy.sparse, name)


def _reconstruct() -> Any:
    try:
        from numpy._core.multiarray import _reconstruct as fn  # numpy >= 2
    except ImportError:
        from numpy.core.multiarray import _reconstruct as fn  # numpy 1.x
    return fn


# (module, name) as written in the pickle (after Python 2 -> 3 renaming) -> what to build
_ALLOWED = {
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("builtins", "list"): lambda: list,
    ("__builtin__", "list"): lambda: list,  # Python 2 name
    ("collections", "defaultdict"): lambda: __import__("collections").defaultdict,
    **{(module, f"{fmt}_matrix"): (lambda f=fmt: _sparse(f"{f}_matrix"))
       for fmt in ("csr", "csc", "coo", "lil", "dok")
       for module in (f"scipy.sparse.{fmt}", f"scipy.sparse._{fmt}", "scipy.sparse")},
}


class SafeUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the numpy / scipy.sparse / list / defaultdict names above."""

    def __init__(self, file: Any, *, where: str) -> None:
        super().__init__(file, encoding="latin1", fix_imports=True)
        self.where = where

    def find_class(self, module: str, name: str) -> Any:
        make = _ALLOWED.get((module, name))
        if make is None:
            raise DataError(f"{self.where}: refused to unpickle {module}.{name} (only numpy arrays and scipy.sparse matrices are allowed)")
        return make()


def safe_load_pickle(path: Path) -> Any:
    """Unpickle ``path`` with :class:`SafeUnpickler`; any malformed pickle raises :class:`DataError`."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as err:
        raise DataError(f"{path}: cannot read: {err.strerror}") from None
    if not data:
        raise DataError(f"{path}: file is empty")
    try:
        return SafeUnpickler(io.BytesIO(data), where=str(path)).load()
    except DataError:
        raise
    except Exception as err:  # a corrupt pickle can fail in many ways inside pickle/numpy/scipy
        raise DataError(f"{path}: not a valid pickle of numpy/scipy objects ({type(err).__name__}: {err})") from None


def _dense(value: Any, path: Path, rows_hint: str) -> np.ndarray:
    """A 2-D float array from a scipy.sparse matrix or a numpy array."""
    if hasattr(value, "toarray"):
        try:
            value = value.toarray()
        except Exception as err:
            raise DataError(f"{path}: malformed sparse matrix ({err})") from None
    if not isinstance(value, np.ndarray) or value.ndim != 2 or not np.issubdtype(value.dtype, np.number):
        raise DataError(f"{path}: expected a 2-D numeric matrix of {rows_hint}, got {type(value).__name__} {getattr(value, 'shape', '')}")
    return value.astype(np.float64)


def _labels(onehot: np.ndarray) -> np.ndarray:
    """Class id of each one-hot row; -1 for a row with no class.  Shapes: ``[R, C]`` -> ``[R]``."""
    return np.where(onehot.sum(1) > 0, onehot.argmax(1), -1)


def _edges(adjacency: Any, path: Path, num_nodes: int) -> np.ndarray:
    """Both directions of every neighbour pair, duplicates removed.  Shapes: -> ``[2, E]``."""
    if not isinstance(adjacency, dict):
        raise DataError(f"{path}: expected a dict of neighbour lists, got {type(adjacency).__name__}")
    pairs = []
    for node, neighbours in adjacency.items():
        if not isinstance(node, int) or not isinstance(neighbours, list) or not all(isinstance(v, int) for v in neighbours):
            raise DataError(f"{path}: entry {node!r} is not an integer node with a list of integer neighbours")
        pairs.extend((node, v) for v in neighbours)
    if not pairs:
        raise DataError(f"{path}: the graph has no edges")
    ends = np.array(pairs, dtype=np.int64)  # [P, 2]
    bad = np.flatnonzero((ends < 0).any(1) | (ends >= num_nodes).any(1))
    if len(bad):
        raise DataError(f"{path}: edge {ends[bad[0]].tolist()} names a node outside [0, {num_nodes})")
    both = np.concatenate([ends, ends[:, ::-1]])  # [2P, 2]
    return np.unique(both, axis=0).T.copy()  # [2, E] sorted, no duplicates


def read_planetoid(folder: str | Path, name: str) -> tuple[Graph, dict[str, np.ndarray]]:
    """The whole graph (``y`` = class id, -1 where unknown) and the public split's node ids."""
    folder = Path(folder)
    raw = {part: safe_load_pickle(folder / f"ind.{name}.{part}") for part in PARTS}
    index_path = folder / f"ind.{name}.test.index"
    test_index = read_table(index_path, int, columns=1)[0][:, 0]  # [T] in file order
    x, allx, tx = (_dense(raw[p], folder / f"ind.{name}.{p}", "features") for p in ("x", "allx", "tx"))
    y, ally, ty = (_dense(raw[p], folder / f"ind.{name}.{p}", "one-hot labels") for p in ("y", "ally", "ty"))
    for feats, labels, a, b in ((x, y, "x", "y"), (allx, ally, "allx", "ally"), (tx, ty, "tx", "ty")):
        if feats.shape[0] != labels.shape[0]:
            raise DataError(f"{folder}: ind.{name}.{a} has {feats.shape[0]} rows but ind.{name}.{b} has {labels.shape[0]}")
    if len(test_index) != tx.shape[0]:
        raise DataError(f"{index_path}: has {len(test_index)} ids but ind.{name}.tx has {tx.shape[0]} rows")
    if len({allx.shape[1], tx.shape[1], x.shape[1]}) != 1 or len({ally.shape[1], ty.shape[1], y.shape[1]}) != 1:
        raise DataError(f"{folder}: the feature or label widths of ind.{name}.x/allx/tx or y/ally/ty differ")
    start = allx.shape[0]
    if test_index.min() < start or len(np.unique(test_index)) != len(test_index):
        raise DataError(f"{index_path}: test ids must be distinct and >= {start} (the number of allx rows)")
    if x.shape[0] + NUM_VAL > start:
        raise DataError(f"{folder}: ind.{name}.allx has {start} rows, too few for {x.shape[0]} training + {NUM_VAL} validation nodes")

    span = int(test_index.max()) - start + 1  # test block, padded where ids are missing
    N = start + span
    features = np.zeros((N, allx.shape[1]))  # [N, F]
    onehot = np.zeros((N, ally.shape[1]))  # [N, C]
    features[:start], onehot[:start] = allx, ally
    features[test_index], onehot[test_index] = tx, ty
    features /= np.maximum(features.sum(1, keepdims=True), 1e-12)  # row-normalised
    edge_index = _edges(raw["graph"], folder / f"ind.{name}.graph", N)  # [2, E]
    graph = Graph(
        x=torch.from_numpy(features.astype(np.float32)),
        edge_index=torch.from_numpy(edge_index),
        y=torch.from_numpy(_labels(onehot)),
        name=name,
    )
    split = {
        "train": np.arange(x.shape[0]),
        "val": np.arange(x.shape[0], x.shape[0] + NUM_VAL),
        "test": np.sort(test_index),
    }
    return graph, split


def build_planetoid(name: str, *, data_dir: Path | None, **_: object) -> Dataset:
    """Full-graph node classification on the public split of ``name`` (read from ``data_dir/planetoid``)."""
    graph, split = read_planetoid(dataset_folder(data_dir, name, "planetoid"), name)
    num_classes = int(graph.y.max()) + 1
    return Dataset(
        name=name,
        task=Task(level="node", kind="classification", num_outputs=num_classes, metric="accuracy"),
        splits={part: [mask_labels(graph, nodes)] for part, nodes in split.items()},
        in_dim=graph.x.shape[1],
        info={"nodes": graph.num_nodes, "edges": graph.num_edges, **{part: len(nodes) for part, nodes in split.items()}},
    )
