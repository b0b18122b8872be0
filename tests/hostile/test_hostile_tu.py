"""Hostile TU-format folders: each damage of a small valid collection is refused naming the file and line."""

from __future__ import annotations

import pytest
from harness import SMALL, refused, run_cli

NAME = "TOY"
GRAPHS = 10  # triangles, labels 1 and 2 in turn


def _valid() -> dict[str, bytes]:
    edges, indicator = [], []
    for g in range(GRAPHS):
        a = 3 * g + 1
        for j, i in ((a, a + 1), (a + 1, a + 2), (a + 2, a)):
            edges += [f"{j}, {i}", f"{i}, {j}"]
        indicator += [str(g + 1)] * 3
    return {
        "A": "\n".join(edges).encode(),
        "graph_indicator": "\n".join(indicator).encode(),
        "graph_labels": "\n".join(str(1 + g % 2) for g in range(GRAPHS)).encode(),
        "node_labels": "\n".join(str(n % 3) for n in range(3 * GRAPHS)).encode(),
    }


def _lines(text: bytes, line: int, new: str) -> bytes:
    rows = text.decode().splitlines()
    rows[line - 1] = new
    return "\n".join(rows).encode()


V = _valid()
# case -> (file suffix -> new content (None: no such file), strings the error must name)
CASES = {
    "A: not an integer": ({"A": _lines(V["A"], 3, "2, x")}, ["TOY_A.txt:3", "'x'"]),
    "A: node id 0": ({"A": _lines(V["A"], 2, "0, 1")}, ["TOY_A.txt:2", "out of range"]),
    "A: node id 10^12": ({"A": _lines(V["A"], 4, "1, 1000000000000")}, ["TOY_A.txt:4", "1000000000000"]),
    "A: id beyond 64 bits": ({"A": _lines(V["A"], 1, "1, 100000000000000000000000")}, ["TOY_A.txt", "64 bits"]),
    "A: three columns": ({"A": _lines(V["A"], 5, "1, 2, 3")}, ["TOY_A.txt:5", "2 value(s)"]),
    "A: empty": ({"A": b""}, ["TOY_A.txt", "empty"]),
    "A: not UTF-8": ({"A": V["A"][:10] + b"\xff\xfe" + V["A"][10:]}, ["TOY_A.txt", "UTF-8"]),
    "A: edge across two graphs": ({"A": _lines(V["A"], 1, "1, 4")}, ["TOY_A.txt:1", "two graphs"]),
    "A: missing": ({"A": None}, ["TOY_A.txt", "not found"]),
    "A: 200,000-digit id": ({"A": _lines(V["A"], 2, "1, " + "9" * 200_000)}, ["TOY_A.txt:2"]),
    "indicator: not sorted": (
        {"graph_indicator": _lines(_lines(V["graph_indicator"], 4, "1"), 3, "2")},
        ["TOY_graph_indicator.txt:4", "not sorted"],
    ),
    "indicator: skips a graph": (
        {"graph_indicator": V["graph_indicator"].replace(b"\n2\n2\n2", b"\n3\n3\n3")},
        ["TOY_graph_indicator.txt:4", "skips"],
    ),
    "indicator: starts at 2": (
        {"graph_indicator": b"\n".join(str(int(x) + 1).encode() for x in V["graph_indicator"].split())},
        ["TOY_graph_indicator.txt:1", "start at 1"],
    ),
    "indicator: two columns": (
        {"graph_indicator": _lines(V["graph_indicator"], 2, "1 1")},
        ["TOY_graph_indicator.txt:2"],
    ),
    "indicator: negative": ({"graph_indicator": _lines(V["graph_indicator"], 1, "-1")}, ["TOY_graph_indicator.txt:1"]),
    "labels: a row short": (
        {"graph_labels": b"\n".join(V["graph_labels"].split()[:-1])},
        ["TOY_graph_labels.txt", "expected 10"],
    ),
    "labels: missing": ({"graph_labels": None}, ["TOY_graph_labels.txt", "not found"]),
    "labels: a float": ({"graph_labels": _lines(V["graph_labels"], 2, "1.5")}, ["TOY_graph_labels.txt:2", "'1.5'"]),
    "node labels: a row too many": (
        {"node_labels": V["node_labels"] + b"\n1"},
        ["TOY_node_labels.txt", "expected 30"],
    ),
    "node labels: 60,000 distinct over 60,000 nodes": (
        {
            "A": b"1, 2\n2, 1",
            "graph_indicator": b"\n".join([b"1"] * 60_000),
            "graph_labels": b"1",
            "node_labels": b"\n".join(str(n).encode() for n in range(60_000)),
        },
        ["TOY_node_labels.txt", "GiB"],
    ),
    "node attributes: NaN": (
        {"node_attributes": b"\n".join([b"0.5"] * 7 + [b"nan"] + [b"1.0"] * 22)},
        ["TOY_node_attributes.txt:8", "not finite"],
    ),
    "node attributes: 1e400": (
        {"node_attributes": b"\n".join([b"0.5"] * 3 + [b"1e400"] + [b"1.0"] * 26)},
        ["TOY_node_attributes.txt:4", "not finite"],
    ),
    "node attributes: ragged": (
        {"node_attributes": b"\n".join([b"0.5, 1"] * 5 + [b"0.5"] + [b"1.0, 2"] * 24)},
        ["TOY_node_attributes.txt:6"],
    ),
    "edge labels: a row short": (
        {"edge_labels": b"\n".join([b"1"] * 59)},
        ["TOY_edge_labels.txt", "expected 60"],
    ),
    "edge attributes: not a number": (
        {"edge_attributes": b"\n".join([b"0.1"] * 9 + [b"heavy"] + [b"0.2"] * 50)},
        ["TOY_edge_attributes.txt:10", "'heavy'"],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_damaged_tu_collection_is_refused_naming_the_file_and_line(box, case):
    changes, names = CASES[case]
    folder = box.data / "TU" / NAME
    for suffix, content in (V | changes).items():
        if content is not None:
            box.write(f"TU/{NAME}/{NAME}_{suffix}.txt", content)
    if not folder.exists():
        folder.mkdir(parents=True)
    refused(box, ["train", "--dataset", NAME, "--out", box.run, *SMALL], *names)


def test_the_valid_collection_trains(box):
    """The corpus damages a collection that is itself fine."""
    for suffix, content in V.items():
        box.write(f"TU/{NAME}/{NAME}_{suffix}.txt", content)
    outcome = run_cli(["train", "--dataset", NAME, "--out", str(box.run), *SMALL])
    assert outcome.code == 0, outcome.err
