"""Plain files: edge list + node table and JSON lines of graphs, read exactly, refused clearly, trained from the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gatedgcn.data import load_dataset
from gatedgcn.data.files import read_edgelist, read_jsonl, read_node_table
from gatedgcn.errors import ConfigError, DataError

from helpers import scores_by_hand

EDGES = "source,target,weight\n0,1,0.5\n1,0,0.5\n1,2,2\n2,1,2\n2,3,1\n3,2,1\n3,0,4\n"
NODES = "id,a,b,label\n2,1.5,0,1\n0,0.5,1,0\n1,1,1,\n3,-2,3,1\n"
LINES = [
    {"num_nodes": 3, "edge_index": [[0, 1, 2], [1, 2, 0]], "x": [[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]], "y": 1},
    {"num_nodes": 2, "edge_index": [[0], [1]], "x": [[2.0, 2.0], [3.0, 1.0]], "edge_attr": [[0.25]], "y": 0},
]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_edge_list_with_header_weights_and_node_table(tmp_path):
    g = read_edgelist(write(tmp_path / "edges.csv", EDGES), nodes=write(tmp_path / "nodes.csv", NODES))
    assert g.edge_index.tolist() == [[0, 1, 1, 2, 2, 3, 3], [1, 0, 2, 1, 3, 2, 0]]  # j -> i as written
    assert g.edge_attr.tolist() == [[0.5], [0.5], [2.0], [2.0], [1.0], [1.0], [4.0]]
    assert g.x.tolist() == [[0.5, 1.0], [1.0, 1.0], [1.5, 0.0], [-2.0, 3.0]]  # rows sorted by id
    assert g.y.tolist() == [0, -1, 1, 1]  # an empty label is no label


def test_tsv_without_header_or_node_table(tmp_path):
    g = read_edgelist(write(tmp_path / "e.tsv", "0\t3\n3\t1\n"))
    assert g.edge_index.tolist() == [[0, 3], [3, 1]]
    assert g.x.tolist() == [[1.0]] * 4 and g.edge_attr is None and g.y is None


def test_node_table_without_labels_or_features(tmp_path):
    table = read_node_table(write(tmp_path / "n.csv", "1\n0\n2\n"))
    x, y = table.x, table.y
    assert table.names is None and x.tolist() == [[1.0], [1.0], [1.0]] and y is None


@pytest.mark.parametrize(
    "edges, nodes, message",
    [
        ("0,1\n1,2,3\n", None, "e.csv:2: expected 2 columns, got 3"),
        ("0,1\n1,x\n", "0\n1\n2\n", "e.csv:2: column 2 (target): node id 'x' is not in"),
        ("a,b\nb,\n", None, "e.csv:2: column 2 (target): the node id is empty"),
        ("a,b\n", "id\na\nb\na\n", "n.csv:4: node id 'a' already given on line 2"),
        ("a,b\nb,c\n", "a\nb\n", "e.csv:2: column 2 (target): node id 'c' is not in"),
        ("0,1\n-1,2\n", None, "e.csv:2: node ids must be >= 0"),
        ("0,1\n1,4\n", "0\n1\n2\n", "e.csv:2: node id 4 is not in the node table"),
        ("", None, "e.csv: file is empty"),
        ("source,target\n", None, "e.csv: has a header but no edges"),
        ("0,1,0.5\n1,0,inf\n", None, "e.csv:2: column 3: value 'inf' is not finite"),
        ("0,1\n", "0,1\n1,2\n0,3\n", "n.csv:3: node id 0 already given on line 1"),
        ("0,1\n", "0\n5\n", "n.csv:2: node id 5 out of range [0, 2)"),
        ("0,1\n", "id,label\n0,1\n1,-3\n", "n.csv:3: label -3 is negative"),
    ],
)
def test_malformed_edge_lists_and_tables_name_file_and_line(tmp_path, edges, nodes, message):
    table = None if nodes is None else write(tmp_path / "n.csv", nodes)
    with pytest.raises(DataError) as err:
        read_edgelist(write(tmp_path / "e.csv", edges), nodes=table)
    assert message in str(err.value)


def test_json_lines_are_read_exactly(tmp_path):
    path = write(tmp_path / "g.jsonl", "\n".join(json.dumps(line) for line in LINES) + "\n\n")
    g1, g2 = read_jsonl(path)
    assert g1.edge_index.tolist() == [[0, 1, 2], [1, 2, 0]] and g1.x.tolist() == LINES[0]["x"] and int(g1.y) == 1
    assert g1.edge_attr is None
    assert g2.edge_attr.tolist() == [[0.25]] and int(g2.y) == 0 and g2.num_nodes == 2


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"num_nodes": 2, "edge_index": [[0], [1]]', "g.jsonl:2: not valid JSON"),
        ("[1, 2]", "g.jsonl:2: expected a JSON object, got list"),
        ('{"num_nodes": 0, "edge_index": [[], []]}', "g.jsonl:2: num_nodes must be a positive integer"),
        (
            '{"num_nodes": 2, "edge_index": [[0, 1], [1]]}',
            "g.jsonl:2: edge_index must be [[senders...], [receivers...]]",
        ),
        (
            '{"num_nodes": 2, "edge_index": [[0], [2]]}',
            "g.jsonl:2: edge_index[1, 0] = 2 is not a node id of this graph",
        ),
        ('{"num_nodes": 2, "edge_index": [[0], [1]], "x": [[1], [2], [3]]}', "g.jsonl:2: x must have 2 rows"),
        ('{"num_nodes": 2, "edge_index": [[0], [1]], "y": "a"}', "g.jsonl:2: y must be an integer class"),
        ('{"num_nodes": 2, "edge_index": [[0], [1]], "colour": 1}', "g.jsonl:2: unknown field 'colour'"),
    ],
)
def test_malformed_json_lines_name_file_and_line(tmp_path, line, message):
    path = write(tmp_path / "g.jsonl", json.dumps(LINES[0]) + "\n" + line + "\n")
    with pytest.raises(DataError) as err:
        read_jsonl(path)
    assert message in str(err.value)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    which=st.sampled_from(["edges", "nodes", "jsonl"]),
    edits=st.lists(
        st.tuples(
            st.integers(0, 300),
            st.sampled_from(["delete", "insert", "replace"]),
            st.sampled_from(list('0123456789,-.e \n\t"[]{}:xy')),
        ),
        max_size=4,
    ),
    garbage=st.one_of(st.none(), st.binary(max_size=40)),
)
def test_random_edits_give_a_valid_graph_or_our_error(tmp_path_factory, which, edits, garbage):
    folder = tmp_path_factory.mktemp("f")
    texts = {"edges": EDGES, "nodes": NODES, "jsonl": "\n".join(json.dumps(line) for line in LINES)}
    paths = {"edges": folder / "edges.csv", "nodes": folder / "nodes.csv", "jsonl": folder / "g.jsonl"}
    for key, text in texts.items():
        paths[key].write_text(text)
    if garbage is not None:
        paths[which].write_bytes(garbage)
    else:
        text = texts[which]
        for pos, op, ch in edits:
            pos = min(pos, len(text))
            text = (
                text[:pos] + ch + text[pos + 1 :]
                if op == "replace"
                else text[:pos] + ch + text[pos:]
                if op == "insert"
                else text[:pos] + text[pos + 1 :]
            )
        paths[which].write_text(text)
    try:
        graphs = (
            read_jsonl(paths["jsonl"]) if which == "jsonl" else [read_edgelist(paths["edges"], nodes=paths["nodes"])]
        )
    except DataError:
        return
    for g in graphs:
        assert torch.isfinite(g.x).all() and (g.num_edges == 0 or int(g.edge_index.max()) < g.num_nodes)


def test_edgelist_dataset_splits_the_labelled_nodes(tmp_path):
    labels = [k % 2 for k in range(20)]
    write(tmp_path / "nodes.csv", "id,f,label\n" + "".join(f"{k},{k / 10},{c}\n" for k, c in enumerate(labels)))
    edges = write(tmp_path / "edges.csv", "".join(f"{k},{(k + 1) % 20}\n{(k + 1) % 20},{k}\n" for k in range(20)))
    d = load_dataset("edgelist", path=edges, seed=0, folds=0, fold=0)
    assert d.task.level == "node" and d.task.num_outputs == 2 and d.in_dim == 1
    masks = {k: (g[0].y >= 0) for k, g in d.splits.items()}
    assert [int(m.sum()) for m in masks.values()] == [16, 2, 2]
    assert not (masks["train"] & masks["test"]).any() and not (masks["val"] & masks["test"]).any()
    assert int((masks["train"] | masks["val"] | masks["test"]).sum()) == 20
    with pytest.raises(ConfigError, match="--data-path"):
        load_dataset("edgelist", path=None)


def test_train_from_the_cli_on_json_lines_and_an_edge_list(tmp_path, capsys):
    from gatedgcn.cli import main

    lines = [{"num_nodes": 3, "edge_index": [[0, 1, 2], [1, 2, 0 if k % 2 else 1]], "y": k % 2} for k in range(12)]
    graphs = write(tmp_path / "g.jsonl", "\n".join(json.dumps(line) for line in lines))
    common = ["--epochs", "1", "--hidden", "8", "--layers", "1", "--quiet", "--json"]
    assert (
        main(["train", "--dataset", "jsonl", "--data-path", str(graphs), "--out", str(tmp_path / "r1"), *common]) == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["dataset"] == "jsonl"
    assert summary["test"]["accuracy"] == pytest.approx(
        scores_by_hand(tmp_path / "r1", tmp_path / "p.jsonl")["accuracy"]
    )
    write(tmp_path / "nodes.csv", "id,f,label\n" + "".join(f"{k},{k % 3},{k % 2}\n" for k in range(10)))
    edges = write(tmp_path / "edges.csv", "".join(f"{k},{(k + 1) % 10}\n" for k in range(10)))
    assert (
        main(["train", "--dataset", "edgelist", "--data-path", str(edges), "--out", str(tmp_path / "r2"), *common]) == 0
    )
