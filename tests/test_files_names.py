"""String node ids and string class labels in edge lists and node tables: mapped to numbers, the mapping kept in
the dataset (and so the run), and written back by ``predict``."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from gatedgcn.cli import main
from gatedgcn.data import load_dataset
from gatedgcn.data.files import read_edge_file, read_node_table
from gatedgcn.errors import DataError


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_string_ids_without_a_table_are_numbered_in_order_of_first_use(tmp_path):
    read = read_edge_file(write(tmp_path / "e.csv", "bob,alice\nalice,carol\ncarol,bob\n"))
    assert read.names == ["bob", "alice", "carol"]
    assert read.graph.edge_index.tolist() == [[0, 1, 2], [1, 2, 0]]
    assert read.graph.num_nodes == 3 and read.classes is None


@pytest.mark.parametrize("header", ["", "source,target,weight\n", "from\tto\tweight\n"])
def test_a_header_over_string_ids_is_found_or_not(tmp_path, header):
    sep = "\t" if "\t" in header else ","
    body = sep.join(["x", "y", "0.5"]) + "\n" + sep.join(["y", "z", "2"]) + "\n"
    read = read_edge_file(write(tmp_path / ("e.tsv" if sep == "\t" else "e.csv"), header + body))
    assert read.names == ["x", "y", "z"] and read.graph.edge_attr.tolist() == [[0.5], [2.0]]


def test_string_ids_and_class_names_of_a_node_table(tmp_path):
    nodes = write(tmp_path / "nodes.csv", "id,f,label\ncarol,0.5,spam\nalice,1.5,ham\nbob,2.5,\ndan,3.5,spam\n")
    table = read_node_table(nodes)
    assert table.names == ["carol", "alice", "bob", "dan"]  # node k: the k-th line
    assert table.classes == ["ham", "spam"]  # sorted
    assert table.y.tolist() == [1, 0, -1, 1] and table.x.tolist() == [[0.5], [1.5], [2.5], [3.5]]
    read = read_edge_file(write(tmp_path / "e.csv", "alice,bob\ndan,carol\n"), nodes=nodes)
    assert read.graph.edge_index.tolist() == [[1, 3], [2, 0]] and read.names == table.names
    # the run's classes fix the ids; a class the run does not know is refused naming file, line and column
    assert read_node_table(nodes, classes=["spam", "ham"]).y.tolist() == [0, 1, -1, 0]
    with pytest.raises(DataError, match=r"nodes.csv:2: column 3 \(label\): class 'spam' is not one of the run's"):
        read_node_table(nodes, classes=["ham", "eggs"])


def test_integer_labels_stay_integers(tmp_path):
    table = read_node_table(write(tmp_path / "n.csv", "id,label\n1,3\n0,\n2,-1\n"))
    assert table.classes is None and table.y.tolist() == [-1, 3, -1]


def _social(folder: Path) -> Path:
    """A small network of two communities of named people, labelled by name ('red' / 'blue')."""
    folder.mkdir()
    people = [f"p{k}" for k in range(24)]
    edges = []
    for k, a in enumerate(people):
        for b in people[(k // 12) * 12 : (k // 12) * 12 + 12]:
            if a != b and (k + int(b[1:])) % 3 == 0:
                edges.append(f"{a},{b}")
    write(folder / "edges.csv", "source,target\n" + "\n".join(edges) + "\n")
    rows = [f"{p},{1.0 if k < 12 else -1.0},{'red' if k < 12 else 'blue'}" for k, p in enumerate(people)]
    write(folder / "nodes.csv", "name,f,label\n" + "\n".join(rows) + "\n")
    return folder / "edges.csv"


def test_dataset_keeps_the_names(tmp_path):
    d = load_dataset("edgelist", path=_social(tmp_path / "s"), seed=0, folds=0, fold=0)
    assert d.info["classes"] == ["blue", "red"] and d.info["node_names"][:2] == ["p0", "p1"]
    assert d.task.num_outputs == 2


def test_train_then_predict_writes_the_users_names_back(tmp_path, capsys):
    edges = _social(tmp_path / "s")
    run = tmp_path / "run"
    args = ["train", "--dataset", "edgelist", "--data-path", str(edges), "--out", str(run), "--quiet"]
    assert main(args + ["--epochs", "2", "--layers", "1", "--hidden", "8"]) == 0
    shutil.rmtree(edges.parent)  # the run keeps the class names itself: predicting needs no training file
    # new data: three of the people, one with a label the run knows
    new = tmp_path / "new"
    new.mkdir()
    write(new / "edges.csv", "ann,p3\np3,ann\nzed,ann\n")
    write(new / "nodes.csv", "name,f,label\nann,1.0,red\np3,1.0,\nzed,-1.0,\n")
    assert main(["predict", str(run), str(new / "edges.csv"), "--out", str(tmp_path / "p.csv")]) == 0
    rows = list(csv.DictReader((tmp_path / "p.csv").read_text().splitlines()))
    assert [r["node"] for r in rows] == ["ann", "p3", "zed"]
    assert {r["class"] for r in rows} <= {"red", "blue"} and {"p_red", "p_blue"} <= set(rows[0])
    assert rows[0]["target"] == "red" and rows[1]["target"] == ""
    write(new / "nodes.csv", "name,f,label\nann,1.0,green\np3,1.0,\nzed,-1.0,\n")
    capsys.readouterr()
    assert main(["predict", str(run), str(new / "edges.csv")]) == 1
    assert (
        "nodes.csv:2: column 3 (label): class 'green' is not one of the run's classes blue, red"
        in capsys.readouterr().err
    )


def test_an_integer_column_x_is_read_as_node_categories(tmp_path, capsys):
    nodes = write(tmp_path / "nodes.csv", "id,x,label\nb,2,u\na,0,v\nc,1,u\nd,2,v\ne,0,u\nf,1,v\n")
    table = read_node_table(nodes)
    assert table.x.dtype.kind == "i" and table.x.tolist() == [2, 0, 1, 2, 0, 1]
    assert read_node_table(write(tmp_path / "f.csv", "id,x\na,0.5\nb,1\n")).x.tolist() == [[0.5], [1.0]]  # floats
    assert read_node_table(write(tmp_path / "g.csv", "id,x,w\na,1,2\n")).x.tolist() == [[1.0, 2.0]]  # two columns
    with pytest.raises(DataError, match=r"h.csv:3: column x holds category ids, which must be >= 0; got -1"):
        read_node_table(write(tmp_path / "h.csv", "id,x\na,1\nb,-1\n"))
    edges = write(tmp_path / "edges.csv", "a,b\nb,c\nc,d\nd,e\ne,f\nf,a\n")
    d = load_dataset("edgelist", path=edges, seed=0, folds=0, fold=0)
    assert (d.in_dim, d.node_vocab) == (0, 3) and d.splits["train"][0].x.tolist() == [2, 0, 1, 2, 0, 1]
    run = tmp_path / "run"
    args = ["train", "--dataset", "edgelist", "--data-path", str(edges), "--out", str(run), "--quiet"]
    assert main(args + ["--epochs", "1", "--layers", "1", "--hidden", "4"]) == 0
