"""Hostile hand-written files: edge lists with their node tables, and JSON lines of graphs, for train and predict."""

from __future__ import annotations

import json

import pytest
from harness import SMALL, refused, run_cli

N = 12  # a ring of 12 nodes, labels 0, 1, 2 in turn
EDGES = "source,target,weight\n" + "".join(f"{v},{(v + 1) % N},1.0\n{(v + 1) % N},{v},1.0\n" for v in range(N))
NODES = "id,f,label\n" + "".join(f"{v},{v / N},{v % 3}\n" for v in range(N))

EDGE_CASES = {
    "edge list: node 10^12 without a node table": (
        {"edges.csv": "0,1\n1,1000000000000\n", "nodes.csv": None},
        ["edges.csv:2", "1,000,000,000,000", "GiB"],
    ),
    "edge list: id beyond 64 bits": ({"edges.csv": "0,1\n1,99999999999999999999999\n"}, ["edges.csv:2", "64 bits"]),
    "edge list: negative id": ({"edges.csv": "0,1\n-1,2\n"}, ["edges.csv:2", ">= 0"]),
    "edge list: id not an integer": ({"edges.csv": "0,1\n1,two\n"}, ["edges.csv:2", "'two'"]),
    "edge list: a row of another width": ({"edges.csv": "0,1,1.0\n1,2\n"}, ["edges.csv:2", "3 columns"]),
    "edge list: only a header": ({"edges.csv": "source,target\n"}, ["edges.csv", "no edges"]),
    "edge list: empty": ({"edges.csv": ""}, ["edges.csv", "empty"]),
    "edge list: not UTF-8": ({"edges.csv": b"0,1\n1,\xff\xfe2\n"}, ["edges.csv", "UTF-8"]),
    "edge list: a NaN weight": ({"edges.csv": "0,1,1.0\n1,2,nan\n"}, ["edges.csv:2", "not finite"]),
    "edge list: a weight of 1e400": ({"edges.csv": "0,1,1e400\n"}, ["edges.csv:1", "not finite"]),
    "edge list: a 200,000-character field": ({"edges.csv": "0,1\n1," + "7" * 200_000 + "\n"}, ["edges.csv:2"]),
    "edge list: a node the table lacks": ({"edges.csv": "0,1\n1,12\n"}, ["edges.csv:2", "node table"]),
    "edge list: no node table, so no labels": ({"nodes.csv": None}, ["edges.csv", "node labels"]),
    "node table: duplicate id": ({"nodes.csv": NODES + "3,0.5,1\n"}, ["nodes.csv:14", "already given"]),
    "node table: id out of range": ({"nodes.csv": NODES.replace("\n11,", "\n40,")}, ["nodes.csv:13", "40"]),
    "node table: label -2": ({"nodes.csv": NODES.replace("5,0.4166666666666667,2", "5,0.4,-2")}, ["nodes.csv:7"]),
    "node table: only a header": ({"nodes.csv": "id,f,label\n"}, ["nodes.csv", "no nodes"]),
    "node table: a feature that is text": ({"nodes.csv": NODES.replace("\n4,", "\n4,x", 1)}, ["nodes.csv:6"]),
    "node table: two labelled nodes": (
        {"nodes.csv": "id,label\n" + "".join(f"{v},{0 if v < 2 else -1}\n" for v in range(N))},
        ["nodes.csv", "3 labelled"],
    ),
    "node table: not UTF-8": ({"nodes.csv": NODES.encode("utf-16")}, ["nodes.csv", "UTF-8"]),
}


def _graph(n: int = 3, **fields) -> dict:
    return {"num_nodes": n, "edge_index": [[0, 1], [1, 2]], "y": 1} | fields


VALID = [_graph(y=k % 2) for k in range(6)]


def _lines(*objects) -> str:
    return "".join((o if isinstance(o, str) else json.dumps(o)) + "\n" for o in objects)


JSON_CASES = {
    "jsonl: num_nodes 10^12": (_lines(*VALID, _graph(10**12)), ["graphs.jsonl:7", "1,000,000,000,000", "GiB"]),
    "jsonl: an edge to node 10^12": (
        _lines(_graph(edge_index=[[0], [10**12]]), *VALID),
        ["graphs.jsonl:1", "1000000000000"],
    ),
    "jsonl: an id beyond 64 bits": (_lines(*VALID, _graph(edge_index=[[0], [10**30]])), ["graphs.jsonl:7", "64 bits"]),
    "jsonl: not JSON": (_lines(*VALID[:2], "{num_nodes: 3", *VALID[2:]), ["graphs.jsonl:3", "not valid JSON"]),
    "jsonl: nested 100,000 deep": (_lines("[" * 100_000 + "]" * 100_000, *VALID), ["graphs.jsonl:1"]),
    "jsonl: x of another length": (_lines(_graph(x=[[1.0], [2.0]]), *VALID), ["graphs.jsonl:1", "3 rows"]),
    "jsonl: x with NaN": (_lines(*VALID, _graph(x=[1.0, float("nan"), 2.0])), ["graphs.jsonl:7", "non-finite"]),
    "jsonl: x of 1e400": (
        _lines(*VALID, '{"num_nodes": 1, "edge_index": [[], []], "x": [1e400], "y": 0}'),
        ["graphs.jsonl:7"],
    ),
    "jsonl: a negative class": (_lines(*VALID, _graph(y=-3)), ["graphs.jsonl:7", "-3"]),
    "jsonl: y a string": (_lines(_graph(y="one"), *VALID), ["graphs.jsonl:1", "'one'"]),
    "jsonl: y a boolean": (_lines(_graph(y=True), *VALID), ["graphs.jsonl:1"]),
    "jsonl: an unknown field": (_lines(*VALID, _graph(colour="red")), ["graphs.jsonl:7", "'colour'"]),
    "jsonl: num_nodes 0": (_lines(_graph(0), *VALID), ["graphs.jsonl:1", "num_nodes"]),
    "jsonl: num_nodes a float": (_lines(_graph(2.5), *VALID), ["graphs.jsonl:1", "num_nodes"]),
    "jsonl: a list, not an object": (_lines([1, 2, 3], *VALID), ["graphs.jsonl:1", "JSON object"]),
    "jsonl: ragged edge_index": (_lines(_graph(edge_index=[[0, 1], [2]]), *VALID), ["graphs.jsonl:1", "edge_index"]),
    "jsonl: empty": ("", ["graphs.jsonl", "empty"]),
    "jsonl: not UTF-8": (_lines(*VALID).encode() + b"\xc3\x28\n", ["graphs.jsonl", "UTF-8"]),
    "jsonl: two graphs only": (_lines(*VALID[:2]), ["graphs.jsonl", "at least 3"]),
    "jsonl: classes and numbers mixed": (_lines(*VALID, _graph(y=[0.5, 1.5])), ["graphs.jsonl", "kind of y"]),
    "jsonl: a graph without y": (
        _lines(*VALID, {"num_nodes": 2, "edge_index": [[0], [1]]}),
        ["graphs.jsonl:7", "target y"],
    ),
    "jsonl: a 200,000-character string": (_lines(_graph(y="x" * 200_000), *VALID), ["graphs.jsonl:1"]),
}


def _edge_files(box, changes: dict) -> None:
    for name, content in ({"edges.csv": EDGES, "nodes.csv": NODES} | changes).items():
        if content is not None:
            box.write(f"ring/{name}", content)


@pytest.mark.parametrize("case", sorted(EDGE_CASES))
def test_a_hostile_edge_list_or_node_table_is_refused_naming_the_file_and_line(box, case):
    changes, names = EDGE_CASES[case]
    _edge_files(box, changes)
    argv = ["train", "--dataset", "edgelist", "--data-path", box.data / "ring" / "edges.csv", "--out", box.run, *SMALL]
    line = refused(box, argv, *names)
    assert len(line) < 400, line


@pytest.mark.parametrize("case", sorted(JSON_CASES))
def test_a_hostile_json_lines_file_is_refused_naming_the_line(box, case):
    content, names = JSON_CASES[case]
    path = box.write("graphs.jsonl", content)
    line = refused(box, ["train", "--dataset", "jsonl", "--data-path", path, "--out", box.run, *SMALL], *names)
    assert len(line) < 400, line


@pytest.mark.parametrize(
    "name, content, names",
    [
        ("graphs.jsonl", _lines(_graph(10**12)), ["graphs.jsonl:1", "GiB"]),
        ("edges.csv", "0,1\n1,1000000000000\n", ["edges.csv:2", "GiB"]),
        ("edges.tsv", b"0\t1\n\xff\t2\n", ["edges.tsv", "UTF-8"]),
    ],
)
def test_predict_refuses_a_hostile_input_file_before_running_the_model(trained, name, content, names):
    path = trained.write(f"input/{name}", content)
    refused(trained, ["predict", trained.run, path, "--quiet"], *names)


def test_the_valid_files_train(box):
    _edge_files(box, {})
    argv = [
        "train",
        "--dataset",
        "edgelist",
        "--data-path",
        str(box.data / "ring" / "edges.csv"),
        "--out",
        str(box.run),
    ]
    assert run_cli([*argv, *SMALL]).code == 0
    path = box.write("graphs.jsonl", _lines(*VALID))
    outcome = run_cli(
        ["train", "--dataset", "jsonl", "--data-path", str(path), "--out", str(box.root / "run2"), *SMALL]
    )
    assert outcome.code == 0, outcome.err
