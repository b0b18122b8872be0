"""``train`` prints the dataset's counts before the first epoch and ``summary.json`` stores them: graphs, nodes,
edges, outputs and the size of each split, counted here from the files the test writes."""

from __future__ import annotations

import json

from gatedgcn.cli import main


def test_train_prints_and_stores_the_counts_of_a_users_edge_list(tmp_path, capsys):
    # 10 nodes, 12 directed edges (a ring both ways minus ...), labels on 9 nodes (node 9 unlabelled), 2 classes
    ring = [(k, (k + 1) % 6) for k in range(6)] + [((k + 1) % 6, k) for k in range(6)]
    (tmp_path / "edges.csv").write_text("source,target\n" + "".join(f"n{j},n{i}\n" for j, i in ring))
    labels = ["a", "b", "a", "b", "a", "b", "a", "b", "a", ""]
    (tmp_path / "nodes.csv").write_text(
        "id,f,label\n" + "".join(f"n{k},{k % 2},{label}\n" for k, label in enumerate(labels))
    )
    out = tmp_path / "run"
    args = ["train", "--dataset", "edgelist", "--data-path", str(tmp_path / "edges.csv"), "--out", str(out)]
    assert main(args + ["--epochs", "1", "--layers", "1", "--hidden", "4"]) == 0
    printed = capsys.readouterr().out.splitlines()
    counts = json.loads((out / "summary.json").read_text())["data"]
    assert (counts["graphs"], counts["nodes"], counts["edges"], counts["outputs"]) == (1, 10, 12, 2)
    assert sum(counts["splits"].values()) == 9 and set(counts["splits"]) == {"train", "val", "test"}
    sizes = " / ".join(f"{name} {counts['splits'][name]}" for name in ("train", "val", "test"))
    line = f"edges.csv: 1 graph, 10 nodes, 12 edges; node classification, 2 outputs; {sizes}"
    assert printed[0] == line  # before the first epoch's line
    assert printed[1].startswith("epoch 1/1")


def test_the_mini_runs_summary_counts_its_graphs(tmp_path, capsys):
    out = tmp_path / "run"
    sizes = ["--set", "data.num_train=12", "--set", "data.num_val=5", "--set", "data.num_test=7"]
    assert main(["train", "--out", str(out), "--epochs", "1", "--hidden", "8", "--quiet", *sizes]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("gated_gcn on mini")  # --quiet: no counts line
    counts = json.loads((out / "summary.json").read_text())["data"]
    assert counts["graphs"] == 24 and counts["splits"] == {"train": 12, "val": 5, "test": 7}
