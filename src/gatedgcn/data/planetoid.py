"""The Planetoid citation graphs (Yang et al. 2016): Cora, CiteSeer, PubMed with the public split.

    ind.NAME.x, .y         features / one-hot labels of the labelled training nodes (scipy.sparse, numpy)
    ind.NAME.allx, .ally   features / labels of every node that is not a test node
    ind.NAME.tx, .ty       features / labels of the test nodes, in the order of ``test.index``
    ind.NAME.graph         {node: [neighbours]}
    ind.NAME.test.index    one node id per line

The files are Python 2 pickles, read by :func:`gatedgcn.data.safepickle.safe_load_pickle`, which
builds only checked numpy arrays, csr/csc matrices, lists and a defaultdict: a pickle naming
anything else (``os.system``, say) is refused before it is called.

Node order as in Kipf & Welling: ``allx`` rows, then the test rows placed at their
``test.index``.  Test ids missing from the range ``[min, max]`` of ``test.index`` (CiteSeer) get
zero features and no label.  Public split: the first ``len(y)`` nodes train (20 per class),
the next 500 validate, ``test.index`` tests.  Features are row-normalised (rows sum to 1).
Each split holds the same graph, whose labels outside that split are -1 (ignored by the
objective and the metrics).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from gatedgcn.data.dataset import Dataset, Task
from gatedgcn.data.safepickle import safe_load_pickle, to_array
from gatedgcn.data.splits import mask_labels
from gatedgcn.data.textfile import dataset_folder, read_table
from gatedgcn.errors import DataError
from gatedgcn.graph import Graph

__all__ = ["read_planetoid", "build_planetoid", "has_planetoid"]

NUM_VAL = 500
PARTS = ("x", "y", "tx", "ty", "allx", "ally", "graph")


def _labels(onehot: np.ndarray) -> np.ndarray:
    """Class id of each one-hot row; -1 for a row with no class.  Shapes: ``[R, C]`` -> ``[R]``."""
    return np.where(onehot.sum(1) > 0, onehot.argmax(1), -1)


def _edges(adjacency: Any, path: Path, num_nodes: int) -> np.ndarray:
    """Both directions of every neighbour pair, duplicates removed.  Shapes: -> ``[2, E]``."""
    if not isinstance(adjacency, dict):
        raise DataError(f"{path}: expected a dict of neighbour lists, got {type(adjacency).__name__}")
    pairs: list[tuple[int, int]] = []
    for node, neighbours in adjacency.items():
        if (
            not isinstance(node, int)
            or not isinstance(neighbours, list)
            or not all(isinstance(v, int) for v in neighbours)
        ):
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


def has_planetoid(folder: Path, name: str) -> bool:
    """Whether ``folder`` holds the files of the Planetoid set ``name``."""
    return all((folder / f"ind.{name}.{part}").is_file() for part in (*PARTS, "test.index"))


def read_planetoid(folder: str | Path, name: str) -> tuple[Graph, dict[str, np.ndarray]]:
    """The whole graph (``y`` = class id, -1 where unknown) and the public split's node ids."""
    folder = Path(folder)
    raw = {part: safe_load_pickle(folder / f"ind.{name}.{part}") for part in PARTS}
    index_path = folder / f"ind.{name}.test.index"
    test_index = read_table(index_path, int, columns=1)[0][:, 0]  # [T] in file order
    x, allx, tx = (to_array(raw[p], str(folder / f"ind.{name}.{p}"), "features") for p in ("x", "allx", "tx"))
    y, ally, ty = (to_array(raw[p], str(folder / f"ind.{name}.{p}"), "one-hot labels") for p in ("y", "ally", "ty"))
    for feats, labels, a, b in ((x, y, "x", "y"), (allx, ally, "allx", "ally"), (tx, ty, "tx", "ty")):
        if feats.shape[0] != labels.shape[0]:
            raise DataError(
                f"{folder}: ind.{name}.{a} has {feats.shape[0]} rows but ind.{name}.{b} has {labels.shape[0]}"
            )
    if len(test_index) != tx.shape[0]:
        raise DataError(f"{index_path}: has {len(test_index)} ids but ind.{name}.tx has {tx.shape[0]} rows")
    if len({allx.shape[1], tx.shape[1], x.shape[1]}) != 1 or len({ally.shape[1], ty.shape[1], y.shape[1]}) != 1:
        raise DataError(f"{folder}: the feature or label widths of ind.{name}.x/allx/tx or y/ally/ty differ")
    start = allx.shape[0]
    if test_index.min() < start or len(np.unique(test_index)) != len(test_index):
        raise DataError(f"{index_path}: test ids must be distinct and >= {start} (the number of allx rows)")
    if x.shape[0] + NUM_VAL > start:
        raise DataError(
            f"{folder}: ind.{name}.allx has {start} rows, too few for {x.shape[0]} training + {NUM_VAL} validation nodes"
        )

    span = int(test_index.max()) - start + 1  # test block, padded where ids are missing
    if span > 2 * len(test_index) + 1000:  # CiteSeer: 1,015 for 1,000 test ids
        raise DataError(
            f"{index_path}: test id {int(test_index.max())} would pad the {len(test_index)} test nodes to {span:,} rows "
            f"({8 * span * allx.shape[1] / 2**30:,.1f} GiB of features); the ids must lie close to the test nodes"
        )
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
    assert graph.y is not None  # read_planetoid sets the classes
    num_classes = int(graph.y.max()) + 1
    return Dataset(
        name=name,
        task=Task(level="node", kind="classification", num_outputs=num_classes, metric="accuracy"),
        splits={part: [mask_labels(graph, nodes)] for part, nodes in split.items()},
        in_dim=graph.x.shape[1],
        info={
            "nodes": graph.num_nodes,
            "edges": graph.num_edges,
            **{part: len(nodes) for part, nodes in split.items()},
        },
    )
