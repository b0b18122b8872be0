"""TU collection reader, stratified splits and cross-validation: hand-made folders, the shared files, broken files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gatedgcn.data import load_dataset
from gatedgcn.data.splits import choose_split, fixed_split, kfold_split, stratified_parts
from gatedgcn.data.tu import read_tu
from gatedgcn.errors import ConfigError, DataError, GatedGCNError

from helpers import SHARED, needs_shared

# Two graphs: graph 1 = nodes 1,2,3 (path 1-2-3, both directions), graph 2 = nodes 4,5 (one edge 5 -> 4).
TINY = {
    "A": "1, 2\n2, 1\n2, 3\n3, 2\n5, 4\n",
    "graph_indicator": "1\n1\n1\n2\n2\n",
    "graph_labels": "-1\n1\n",
    "node_labels": "7\n3\n7\n3\n9\n",
    "node_attributes": "0.5, 1\n1.5, 2\n2.5, 3\n3.5, 4\n4.5, 5\n",
    "edge_labels": "2\n2\n0\n0\n2\n",
}


def write_tu(folder: Path, name: str = "TINY", files: dict[str, str] = TINY) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for suffix, text in files.items():
        (folder / f"{name}_{suffix}.txt").write_text(text)
    return folder


def test_tiny_folder_is_read_exactly(tmp_path):
    tu = read_tu(write_tu(tmp_path), "TINY")
    assert len(tu.graphs) == 2
    g1, g2 = tu.graphs
    # node features: [standardised attributes, one-hot of node label over the sorted labels 3, 7, 9];
    # both attribute columns are 5 evenly spaced values (step 1): mean in the middle, std √2
    r = 2**-0.5
    assert torch.allclose(g1.x, torch.tensor([[-2 * r, -2 * r, 0, 1, 0], [-r, -r, 1, 0, 0], [0, 0, 0, 1, 0]]))
    assert torch.allclose(g2.x, torch.tensor([[r, r, 1, 0, 0], [2 * r, 2 * r, 0, 0, 1]]))
    assert g1.edge_index.tolist() == [[0, 1, 1, 2], [1, 0, 2, 1]]  # senders, receivers, local ids
    assert g2.edge_index.tolist() == [[1], [0]]
    # edge labels one-hot over 0, 2
    assert g1.edge_attr.tolist() == [[0, 1], [0, 1], [1, 0], [1, 0]]
    assert g2.edge_attr.tolist() == [[0, 1]]
    assert [int(g.y) for g in tu.graphs] == [0, 1]  # -1 -> 0, 1 -> 1
    assert tu.classes.tolist() == [-1, 1]
    assert (tu.in_dim, tu.edge_in_dim) == (5, 2)


@pytest.mark.parametrize(
    "coding, expected", [("-1\n1\n", [0, 1]), ("2\n1\n", [1, 0]), ("6\n1\n", [1, 0]), ("0\n1\n", [0, 1])]
)
def test_graph_labels_are_remapped_to_0_to_c_minus_1(tmp_path, coding, expected):
    tu = read_tu(write_tu(tmp_path, files={**TINY, "graph_labels": coding}), "TINY")
    assert [int(g.y) for g in tu.graphs] == expected


def test_without_node_labels_or_attributes_the_feature_is_the_in_degree(tmp_path):
    files = {k: v for k, v in TINY.items() if k in ("A", "graph_indicator", "graph_labels")}
    tu = read_tu(write_tu(tmp_path, files=files), "TINY")
    assert tu.graphs[0].x[:, 0].tolist() == [1, 2, 1]  # receivers 2; 1, 3; 2
    assert tu.graphs[1].x[:, 0].tolist() == [1, 0]
    assert tu.graphs[0].edge_attr is None


@needs_shared("TU")
@pytest.mark.parametrize(
    "name, graphs, nodes, classes",
    [
        ("MUTAG", 188, 3371, 2),
        ("ENZYMES", 600, 19580, 6),
        ("PROTEINS_full", 1113, 43471, 2),
        ("NCI1", 4110, 122747, 2),
    ],
)
def test_shared_tu_datasets_have_the_published_counts(name, graphs, nodes, classes):
    tu = read_tu(SHARED / "TU" / name, name)
    assert len(tu.graphs) == graphs
    assert sum(g.num_nodes for g in tu.graphs) == nodes
    assert len(tu.classes) == classes
    assert np.bincount(tu.labels).sum() == graphs


@needs_shared("TU")
def test_mutag_matches_an_independent_reading_of_its_files():
    folder = SHARED / "TU" / "MUTAG"
    edges = np.loadtxt(folder / "MUTAG_A.txt", delimiter=",", dtype=np.int64) - 1  # [E, 2]
    indicator = np.loadtxt(folder / "MUTAG_graph_indicator.txt", dtype=np.int64)
    raw = np.loadtxt(folder / "MUTAG_graph_labels.txt", dtype=np.int64)
    node_labels = np.loadtxt(folder / "MUTAG_node_labels.txt", dtype=np.int64)
    tu = read_tu(folder, "MUTAG")
    offsets = np.concatenate([[0], np.cumsum([g.num_nodes for g in tu.graphs])])
    assert [g.num_nodes for g in tu.graphs] == np.bincount(indicator)[1:].tolist()
    ours = sorted(
        (int(j) + offsets[k], int(i) + offsets[k])
        for k, g in enumerate(tu.graphs)
        for j, i in g.edge_index.t().tolist()
    )
    assert ours == sorted(map(tuple, edges.tolist()))
    assert [int(g.y) for g in tu.graphs] == (raw == 1).astype(int).tolist()
    x = torch.cat([g.x for g in tu.graphs])  # one-hot of 7 labels 0..6
    assert x.argmax(1).tolist() == node_labels.tolist() and torch.all(x.sum(1) == 1)
    assert tu.edge_in_dim == 4


# ----------------------------------------------------------------------------- malformed files


@pytest.mark.parametrize(
    "suffix, text, message",
    [
        ("A", "1, 2\n2, 1, 4\n", "TINY_A.txt:2: expected 2 value(s) per line, got 3"),
        ("A", "1, 2\n2, x\n", "TINY_A.txt:2: expected an integer, got 'x'"),
        ("A", "1, 2\n\n2, 9\n", "TINY_A.txt:3: node id out of range [1, 5]"),
        ("A", "1, 2\n3, 4\n", "TINY_A.txt:2: edge joins nodes of two graphs"),
        ("A", "", "TINY_A.txt: file is empty"),
        ("graph_indicator", "1\n2\n1\n2\n2\n", "TINY_graph_indicator.txt:3: graph indicator is not sorted"),
        ("graph_indicator", "1\n1\n1\n3\n3\n", "TINY_graph_indicator.txt:4: graph indicator skips a graph id"),
        ("graph_indicator", "0\n0\n0\n1\n1\n", "TINY_graph_indicator.txt:1: graph ids must start at 1"),
        ("graph_labels", "1\n2\n1\n", "TINY_graph_labels.txt: has 3 rows, expected 2"),
        ("node_labels", "1\n2\n3\n", "TINY_node_labels.txt: has 3 rows, expected 5"),
        ("edge_labels", "1\n", "TINY_edge_labels.txt: has 1 rows, expected 5"),
        (
            "node_attributes",
            "0.5, 1\n1.5, nan\n2.5, 3\n3.5, 4\n4.5, 5\n",
            "TINY_node_attributes.txt:2: value 'nan' is not finite",
        ),
    ],
)
def test_malformed_files_name_the_file_and_line(tmp_path, suffix, text, message):
    write_tu(tmp_path, files={**TINY, suffix: text})
    with pytest.raises(DataError) as err:
        read_tu(tmp_path, "TINY")
    assert message in str(err.value)


def test_missing_files_are_named(tmp_path):
    files = {k: v for k, v in TINY.items() if k != "graph_labels"}
    with pytest.raises(DataError, match="TINY_graph_labels.txt: file not found"):
        read_tu(write_tu(tmp_path, files=files), "TINY")
    with pytest.raises(DataError, match="TU dataset folder not found"):
        read_tu(tmp_path / "nowhere", "TINY")


def test_binary_garbage_is_refused(tmp_path):
    write_tu(tmp_path)
    (tmp_path / "TINY_A.txt").write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(DataError, match="not UTF-8"):
        read_tu(tmp_path, "TINY")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    suffix=st.sampled_from(sorted(TINY)),
    edits=st.lists(
        st.tuples(
            st.integers(0, 200),
            st.sampled_from(["delete", "insert", "replace"]),
            st.sampled_from(list("0123456789,-. \nx\t")),
        ),
        max_size=4,
    ),
    garbage=st.one_of(st.none(), st.binary(max_size=40)),
)
def test_random_edits_give_a_valid_dataset_or_our_error(tmp_path_factory, suffix, edits, garbage):
    folder = write_tu(tmp_path_factory.mktemp("tu"))
    if garbage is not None:
        (folder / f"TINY_{suffix}.txt").write_bytes(garbage)
    else:
        text = TINY[suffix]
        for pos, op, ch in edits:
            pos = min(pos, len(text))
            text = (
                text[:pos] + ch + text[pos + 1 :]
                if op == "replace"
                else text[:pos] + ch + text[pos:]
                if op == "insert"
                else text[:pos] + text[pos + 1 :]
            )
        (folder / f"TINY_{suffix}.txt").write_text(text)
    try:
        tu = read_tu(folder, "TINY")
    except DataError:
        return
    assert len(tu.graphs) == len(tu.labels) >= 1
    for g in tu.graphs:
        assert g.x.shape[1] == tu.in_dim and torch.isfinite(g.x).all()
        assert 0 <= int(g.y) < len(tu.classes)


# ----------------------------------------------------------------------------- splits


def test_stratified_parts_hand_computed_sizes():
    labels = np.array([0] * 7 + [1] * 3)  # 7 of class 0, then 3 of class 1, dealt round-robin into 3 parts
    parts = stratified_parts(labels, 3, seed=0)
    assert sorted(np.concatenate(parts).tolist()) == list(range(10))
    # class 0 gives 3, 2, 2 (turns 0..6); class 1 continues at turn 7: parts 1, 2, 0
    assert [int((labels[p] == 0).sum()) for p in parts] == [3, 2, 2]
    assert [int((labels[p] == 1).sum()) for p in parts] == [1, 1, 1]


def test_kfold_covers_every_item_once_as_test_and_is_seeded():
    labels = np.random.default_rng(1).integers(0, 3, 103)
    tests = []
    for fold in range(10):
        s = kfold_split(labels, 10, fold, seed=5)
        assert (
            not set(s["train"]) & set(s["val"])
            and not set(s["train"]) & set(s["test"])
            and not set(s["val"]) & set(s["test"])
        )
        assert len(s["train"]) + len(s["val"]) + len(s["test"]) == 103
        for c in range(3):  # stratified: each class within one item of its share
            assert abs((labels[s["test"]] == c).sum() - (labels == c).sum() / 10) < 1
        tests.extend(s["test"].tolist())
    assert sorted(tests) == list(range(103))
    assert np.array_equal(kfold_split(labels, 10, 3, seed=5)["test"], kfold_split(labels, 10, 3, seed=5)["test"])
    assert not np.array_equal(kfold_split(labels, 10, 3, seed=5)["test"], kfold_split(labels, 10, 3, seed=6)["test"])


def test_fixed_split_is_stratified_8_1_1():
    labels = np.array([0] * 100 + [1] * 50 + [2] * 40)
    s = fixed_split(labels, seed=0)
    assert [len(s[k]) for k in ("train", "val", "test")] == [152, 19, 19]
    assert (
        np.bincount(labels[s["val"]]).tolist() == [10, 5, 4]
        or np.bincount(labels[s["val"]]).tolist() == [10, 5, 4][::1]
    )
    assert sorted(np.concatenate(list(s.values())).tolist()) == list(range(190))


def test_bad_fold_settings_are_config_errors():
    labels = np.zeros(20, dtype=int)
    with pytest.raises(ConfigError, match="data.fold must be in"):
        kfold_split(labels, 5, 5, seed=0)
    with pytest.raises(ConfigError, match="at least 3 folds"):
        choose_split(labels, folds=2, fold=0, seed=0)
    with pytest.raises(ConfigError, match="cannot split 20 items into 30 parts"):
        stratified_parts(labels, 30, seed=0)


# ----------------------------------------------------------------------------- datasets and CV from the CLI


def _twelve_graphs(tmp_path: Path) -> Path:
    """12 graphs in data_dir/TU/TWELVE: class 0 = paths of 3 nodes, class 1 = triangles."""
    a, ind, labels = [], [], []
    node = 1
    for k in range(12):
        c = k % 2
        n = 3
        ind += [k + 1] * n
        pairs = [(0, 1), (1, 2)] + ([(2, 0)] if c else [])
        for u, v in pairs:
            a += [f"{node + u}, {node + v}", f"{node + v}, {node + u}"]
        labels.append(str(c + 1))
        node += n
    write_tu(
        tmp_path / "TU" / "TWELVE",
        "TWELVE",
        {"A": "\n".join(a), "graph_indicator": "\n".join(map(str, ind)), "graph_labels": "\n".join(labels)},
    )
    return tmp_path


def test_any_tu_folder_is_a_dataset_and_folds_select_the_test_part(tmp_path):
    data_dir = _twelve_graphs(tmp_path)
    tests = []
    for fold in range(3):
        d = load_dataset("TWELVE", data_dir=data_dir, seed=0, folds=3, fold=fold)
        assert d.task.level == "graph" and d.task.num_outputs == 2 and d.in_dim == 1
        assert [len(d.splits[k]) for k in ("train", "val", "test")] == [4, 4, 4]
        tests += [g.name for g in d.splits["test"]]
    assert sorted(tests) == sorted(f"TWELVE[{k}]" for k in range(12))
    with pytest.raises(ConfigError, match="unknown dataset 'NOPE'"):
        load_dataset("NOPE", data_dir=data_dir)


def test_cli_cross_validation_writes_each_fold_and_the_mean_and_std(tmp_path, capsys):
    from gatedgcn.cli import main

    data_dir = _twelve_graphs(tmp_path)
    out = tmp_path / "cv"
    code = main(
        [
            "train",
            "--dataset",
            "TWELVE",
            "--data-dir",
            str(data_dir),
            "--folds",
            "3",
            "--epochs",
            "2",
            "--hidden",
            "8",
            "--layers",
            "1",
            "--batch-size",
            "4",
            "--lr",
            "0.01",
            "--quiet",
            "--json",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    per_fold = [json.loads((out / f"fold-{k}" / "summary.json").read_text())["test"]["accuracy"] for k in range(3)]
    assert summary["folds"] == 3
    assert summary["test"]["accuracy"] == pytest.approx(sum(per_fold) / 3)
    mean = sum(per_fold) / 3
    assert summary["test"]["accuracy_std"] == pytest.approx((sum((a - mean) ** 2 for a in per_fold) / 3) ** 0.5)
    assert json.loads(capsys.readouterr().out)["folds"] == 3


def test_file_datasets_without_a_data_folder_say_how_to_give_one():
    with pytest.raises(ConfigError, match="--data-dir"):
        load_dataset("MUTAG", data_dir=None)
    assert issubclass(DataError, GatedGCNError)


def test_new_graphs_are_encoded_with_the_trained_vocabulary(tmp_path):
    """A second folder whose labels are a subset (3 and 9, no 7) is one-hot over the first one's labels 3, 7, 9, and
    its attributes standardised by the first one's mean and std, not its own."""
    trained = read_tu(write_tu(tmp_path / "TINY"), "TINY")
    assert trained.encoding["node_labels"] == [[3, 7, 9]] and trained.encoding["edge_labels"] == [[0, 2]]
    new_files = dict(TINY, node_labels="3\n3\n9\n3\n9\n", node_attributes="0.5, 1\n0.5, 1\n0.5, 1\n0.5, 1\n0.5, 1\n")
    new = read_tu(write_tu(tmp_path / "NEW", "NEW", new_files), "NEW", trained.encoding)
    x = torch.cat([g.x for g in new.graphs])  # [5, 2 attributes + 3 labels]
    attr = np.array([[0.5, 1], [1.5, 2], [2.5, 3], [3.5, 4], [4.5, 5]])
    standard = (np.array([0.5, 1.0]) - attr.mean(0)) / attr.std(0)  # by the trained statistics
    assert np.allclose(x[:, :2].numpy(), standard[None].repeat(5, 0), atol=1e-6)
    assert x[:, 2:].tolist() == [[1, 0, 0], [1, 0, 0], [0, 0, 1], [1, 0, 0], [0, 0, 1]]  # columns: 3, 7, 9
    with pytest.raises(DataError, match="row 2 has label 5 in column 1, which the run was not trained with"):
        read_tu(write_tu(tmp_path / "BAD", "BAD", dict(TINY, node_labels="3\n5\n9\n3\n9\n")), "BAD", trained.encoding)


def test_predict_on_a_tu_folder_of_ones_own(tmp_path, capsys):
    from gatedgcn.cli import main

    data_dir = _twelve_graphs(tmp_path)
    write_tu(
        data_dir / "TU" / "MINE",
        "MINE",
        {
            f: (data_dir / "TU" / "TWELVE" / f"TWELVE_{f}.txt").read_text()
            for f in ("A", "graph_indicator", "graph_labels")
        },
    )
    run = tmp_path / "run"
    sets = ["data.name=TWELVE", f"data.data_dir={data_dir}", "model.layers=1", "model.hidden=8", "train.epochs=1"]
    assert main(["train", "--quiet", "--out", str(run), *sum((["--set", s] for s in sets), [])]) == 0
    capsys.readouterr()
    assert main(["predict", str(run), "MINE:all", "--quiet"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0].startswith("graph,pred,class,p_1,p_2") and len(rows) == 1 + 12
