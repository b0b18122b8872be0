"""Planetoid reader: the shared Cora files, a hand-made set with missing test ids, the safe unpickler, node-level objective."""

from __future__ import annotations

import os
import pickle
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gatedgcn.data import is_dataset, load_dataset
from gatedgcn.data.planetoid import has_planetoid, read_planetoid
from gatedgcn.data.safepickle import safe_load_pickle
from gatedgcn.errors import DataError
from gatedgcn.train.objective import Objective

from helpers import SHARED, needs_shared


@needs_shared("planetoid")
def test_cora_has_the_published_statistics_and_public_split():
    graph, split = read_planetoid(SHARED / "planetoid", "cora")
    assert graph.num_nodes == 2708 and graph.x.shape == (2708, 1433)
    assert int(graph.y.max()) + 1 == 7 and int(graph.y.min()) == 0
    pairs = set(map(tuple, graph.edge_index.t().tolist()))
    assert len(pairs) == graph.num_edges == 2 * 5278  # no duplicates, both directions
    assert all((i, j) in pairs for j, i in pairs)
    assert [len(split[k]) for k in ("train", "val", "test")] == [140, 500, 1000]
    assert torch.bincount(graph.y[split["train"]]).tolist() == [20] * 7
    assert torch.allclose(graph.x.sum(1), torch.ones(2708))  # row-normalised


@needs_shared("planetoid")
def test_cora_node_order_matches_a_trusted_reading_of_the_pickles():
    folder = SHARED / "planetoid"

    def trusted(part):  # the files are ours to trust here: the plain unpickler is the independent reference
        with open(folder / f"ind.cora.{part}", "rb") as f, warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # the files name scipy.sparse.csr, an old module path
            return pickle.load(f, encoding="latin1")

    tx, ty, allx, ally = (trusted(p) for p in ("tx", "ty", "allx", "ally"))
    test_index = [int(line) for line in (folder / "ind.cora.test.index").read_text().split()]
    graph, split = read_planetoid(folder, "cora")
    row = lambda m, k: np.asarray(m[k].todense()).ravel() / max(m[k].sum(), 1e-12)  # noqa: E731
    for k in (0, 17, 999):
        node = test_index[k]
        assert np.allclose(graph.x[node].numpy(), row(tx, k), atol=1e-6)
        assert int(graph.y[node]) == int(np.argmax(ty[k]))
    for node in (0, 139, 640, 1707):
        assert np.allclose(graph.x[node].numpy(), row(allx, node), atol=1e-6)
        assert int(graph.y[node]) == int(np.argmax(ally[node]))
    adjacency = trusted("graph")
    assert {(j, i) for j, i in graph.edge_index.t().tolist() if i == 0} == {(v, 0) for v in adjacency[0] if v != 0} | {
        (v, 0) for v, ns in adjacency.items() if 0 in ns and v != 0
    }


@needs_shared("planetoid")
def test_cora_dataset_masks_labels_outside_each_split():
    d = load_dataset("cora", data_dir=SHARED)
    assert d.task.level == "node" and d.task.num_outputs == 7 and d.in_dim == 1433
    counts = {k: int((g[0].y >= 0).sum()) for k, g in d.splits.items()}
    assert counts == {"train": 140, "val": 500, "test": 1000}
    assert d.splits["train"][0].x is d.splits["test"][0].x  # one graph, not three copies


# ----------------------------------------------------------------------------- a hand-made set


def write_planetoid(
    folder: Path,
    *,
    test_index: list[int],
    n_train: int = 3,
    n_all: int = 505,
    features: int = 4,
    classes: int = 3,
    name: str = "toy",
) -> Path:
    """A Planetoid-style set: ``n_all`` non-test nodes, test ids as given (gaps allowed), a ring graph."""
    rng = np.random.default_rng(0)
    onehot = lambda n: np.eye(classes)[rng.integers(0, classes, n)]  # noqa: E731
    allx = sp.csr_matrix(rng.integers(0, 2, (n_all, features)).astype(np.float32) + np.eye(1, features, 0))
    ally = onehot(n_all)
    tx = sp.csr_matrix(rng.integers(1, 3, (len(test_index), features)).astype(np.float32))
    ty = onehot(len(test_index))
    N = max(test_index) + 1
    graph = defaultdict(list, {v: [(v + 1) % N] for v in range(N)})
    parts = {"x": allx[:n_train], "y": ally[:n_train], "allx": allx, "ally": ally, "tx": tx, "ty": ty, "graph": graph}
    folder.mkdir(parents=True, exist_ok=True)
    for part, value in parts.items():
        (folder / f"ind.{name}.{part}").write_bytes(pickle.dumps(value, protocol=2))
    (folder / f"ind.{name}.test.index").write_text("\n".join(map(str, test_index)) + "\n")
    return folder


def test_citeseer_by_name_loads_with_its_published_shape(tmp_path):
    """``--dataset citeseer``: the shared files if present, else a synthetic set of CiteSeer's layout (2,312 non-test
    nodes, 1,000 test ids spread over [2312, 3327) so that 15 ids are missing and padded, as in Kipf & Welling)."""
    if has_planetoid(SHARED / "planetoid", "citeseer"):
        data_dir = SHARED
    else:
        rng = np.random.default_rng(1)
        missing = set(rng.choice(np.arange(2313, 3326), 15, replace=False).tolist())  # interior ids without a row
        test_index = rng.permutation([v for v in range(2312, 3327) if v not in missing]).tolist()  # 1,000, unsorted
        write_planetoid(
            tmp_path / "planetoid",
            test_index=test_index,
            n_train=120,
            n_all=2312,
            features=3703,
            classes=6,
            name="citeseer",
        )
        data_dir = tmp_path
    assert is_dataset("citeseer", data_dir)
    d = load_dataset("citeseer", data_dir=data_dir)
    g = d.splits["train"][0]
    assert g.num_nodes == 3327 and d.in_dim == 3703 and d.task.num_outputs == 6
    assert {k: int((v[0].y >= 0).sum()) for k, v in d.splits.items()} == {"train": 120, "val": 500, "test": 1000}


def test_any_planetoid_name_whose_files_are_present(tmp_path):
    write_planetoid(tmp_path / "planetoid", test_index=[505, 506, 507], name="mycites")
    assert is_dataset("mycites", tmp_path) and not is_dataset("othercites", tmp_path)
    assert load_dataset("mycites", data_dir=tmp_path).splits["test"][0].num_nodes == 508


def test_missing_test_ids_are_padded_with_empty_unlabelled_nodes(tmp_path):
    test_index = [509, 505, 507]  # 506 and 508 are missing, the file order is not sorted
    graph, split = read_planetoid(write_planetoid(tmp_path, test_index=test_index), "toy")
    assert graph.num_nodes == 510
    assert graph.x[506].abs().sum() == 0 and graph.x[508].abs().sum() == 0
    assert int(graph.y[506]) == -1 and int(graph.y[508]) == -1
    tx = pickle.loads((tmp_path / "ind.toy.tx").read_bytes()).toarray()
    for k, node in enumerate(test_index):  # the k-th row of tx belongs to node test_index[k]
        assert np.allclose(graph.x[node].numpy(), tx[k] / tx[k].sum())
    assert split["test"].tolist() == [505, 507, 509]
    assert split["train"].tolist() == [0, 1, 2] and split["val"].tolist() == list(range(3, 503))
    assert graph.num_edges == 2 * 510  # a ring, both directions


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_calling_os_system_is_refused_and_never_run(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "ind.toy.x"
    path.write_bytes(pickle.dumps(_Evil(marker), protocol=2))
    with pytest.raises(DataError, match=r"refused to unpickle (posix|os)\.system"):
        safe_load_pickle(path)
    assert not marker.exists()


@pytest.mark.parametrize("value, name", [(pickle.dumps(print), "builtins.print"), (pickle.dumps(Path("x")), "pathlib")])
def test_other_globals_are_refused(tmp_path, value, name):
    path = tmp_path / "p"
    path.write_bytes(value)
    with pytest.raises(DataError, match=f"refused to unpickle {name}"):
        safe_load_pickle(path)


def test_malformed_planetoid_files_are_named(tmp_path):
    folder = write_planetoid(tmp_path, test_index=[505, 506])
    (folder / "ind.toy.ty").write_bytes(pickle.dumps(np.eye(3)[:1], protocol=2))  # 1 row for 2 test nodes
    with pytest.raises(DataError, match="ind.toy.tx has 2 rows but ind.toy.ty has 1"):
        read_planetoid(folder, "toy")
    folder = write_planetoid(tmp_path / "b", test_index=[505, 506])
    (folder / "ind.toy.test.index").write_text("505\nfive\n")
    with pytest.raises(DataError, match=r"ind.toy.test.index:2: expected an integer, got 'five'"):
        read_planetoid(folder, "toy")
    (folder / "ind.toy.graph").write_bytes(b"")
    with pytest.raises(DataError, match="ind.toy.graph: file is empty"):
        read_planetoid(folder, "toy")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.one_of(
        st.binary(max_size=64),
        st.tuples(
            st.sampled_from(["x", "ty", "graph"]),
            st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), min_size=1, max_size=3),
        ),
    )
)
def test_random_bytes_and_edits_give_a_valid_graph_or_our_error(tmp_path_factory, data):
    folder = write_planetoid(tmp_path_factory.mktemp("p"), test_index=[505, 507])
    if isinstance(data, bytes):
        (folder / "ind.toy.allx").write_bytes(data)
    else:
        part, edits = data
        raw = bytearray((folder / f"ind.toy.{part}").read_bytes())
        for pos, byte in edits:
            raw[min(pos, len(raw) - 1)] = byte
        (folder / f"ind.toy.{part}").write_bytes(bytes(raw))
    try:
        graph, split = read_planetoid(folder, "toy")
    except DataError:
        return
    assert graph.num_nodes >= 505 and torch.isfinite(graph.x).all()
    assert int(graph.edge_index.max()) < graph.num_nodes


# ----------------------------------------------------------------------------- the node-level objective


def test_unlabelled_rows_are_ignored_by_the_loss_and_the_metric():
    out = torch.tensor([[2.0, 0.0], [0.0, 1.0], [5.0, -5.0], [0.5, 0.0]])
    y = torch.tensor([0, -1, 1, -1])
    objective = Objective("classification", "accuracy")
    expected = (F.cross_entropy(out[[0]], y[[0]]) + F.cross_entropy(out[[2]], y[[2]])) / 2  # the two labelled rows
    assert torch.allclose(objective.loss(out, y), expected)
    assert objective.score(out, y) == 0.5  # row 0 right, row 2 wrong; rows 1, 3 not counted


def test_data_info_of_a_planetoid_set_whose_files_are_absent_says_so(tmp_path):
    from gatedgcn.data.listing import describe

    (tmp_path / "planetoid").mkdir()
    text = describe("citeseer", tmp_path)
    assert f"measured:  - (its files are not in {tmp_path})" in text
    assert "(no data folder" in describe("citeseer", None)
