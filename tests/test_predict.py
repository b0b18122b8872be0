"""Loading a run in one call and predicting with it: rows checked against the model run graph by graph."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from safetensors.torch import load_file

from gatedgcn import Graph, collate
from gatedgcn.app.predict import Predictor, device_of, load, write_rows
from gatedgcn.cli import main
from gatedgcn.data import Task
from gatedgcn.errors import ConfigError, GatedGCNError, GraphError
from gatedgcn.model import GraphNet, ModelSpec

from tiny_run import train_tiny


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("predict") / "run")


def _alone(model: GraphNet, g: Graph) -> torch.Tensor:
    """The model's output for one graph on its own (eval mode)."""
    model.eval()
    with torch.no_grad():
        return model(collate([g]))


def test_load_gives_the_saved_weights_in_eval_mode(run_dir):
    run = load(run_dir)
    saved = load_file(run_dir / "model.safetensors")
    state = run.model.state_dict()
    assert saved.keys() == state.keys() and all(torch.equal(saved[k], state[k]) for k in saved)
    assert not run.model.training
    assert run.config.model.hidden == 16 and run.config.train.epochs == 3


def test_graph_rows_match_the_model_graph_by_graph(run_dir):
    run = load(run_dir, batch_size=5)  # batches of 5 graphs: the rows must not depend on the batching
    graphs = run.dataset.splits["test"]
    rows = run.predict(graphs)
    classes = run.dataset.info["classes"]
    assert [r["graph"] for r in rows] == list(range(len(graphs)))
    for row, g in zip(rows, graphs):
        p = torch.softmax(_alone(run.model, g)[0].double(), -1)
        assert [row[f"p_{c}"] for c in classes] == pytest.approx(p.tolist(), abs=1e-5)
        assert sum(row[f"p_{c}"] for c in classes) == pytest.approx(1.0, abs=1e-12)
        assert row["pred"] == int(p.argmax()) and row["class"] == classes[row["pred"]]
        assert row["target"] == int(g.y)


def test_predict_cli_agrees_with_the_summary(run_dir, tmp_path, capsys):
    out = tmp_path / "pred.csv"
    assert main(["predict", str(run_dir), "test", "--out", str(out), "--batch-size", "3"]) == 0
    with open(out) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 16
    accuracy = sum(r["pred"] == r["target"] for r in rows) / len(rows)
    assert accuracy == pytest.approx(json.loads((run_dir / "summary.json").read_text())["test"]["accuracy"])
    assert main(["predict", str(run_dir), "mini:val", "--out", str(tmp_path / "pred.jsonl")]) == 0
    lines = [json.loads(l) for l in (tmp_path / "pred.jsonl").read_text().splitlines()]
    assert len(lines) == 8 and {"graph", "pred", "class", "target"} <= lines[0].keys()


def test_node_and_edge_rows_name_their_place(tmp_path):
    torch.manual_seed(3)
    g1 = Graph(x=torch.randn(3, 2), edge_index=torch.tensor([[0, 1, 2], [1, 2, 0]]), edge_attr=torch.randn(3, 1))
    g2 = Graph(x=torch.randn(2, 2), edge_index=torch.tensor([[1], [0]]), edge_attr=torch.randn(1, 1))
    for level, count in (("node", 5), ("edge", 4)):
        spec = ModelSpec(layer="gated_gcn", layers=2, hidden=8, out_dim=3, level=level, in_dim=2, edge_in_dim=1)
        model = GraphNet(spec).eval()
        rows = Predictor(model, Task(level, "classification", 3, "accuracy"), batch_size=2)([g1, g2])
        assert len(rows) == count
        expected = torch.cat([torch.softmax(_alone(model, g).double(), -1) for g in (g1, g2)])  # [count, 3]
        assert torch.allclose(
            torch.tensor([[r["p_0"], r["p_1"], r["p_2"]] for r in rows], dtype=torch.float64), expected, atol=1e-5
        )
        if level == "node":
            assert [(r["graph"], r["node"]) for r in rows] == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1)]
        else:
            assert [(r["graph"], r["edge"], r["sender"], r["receiver"]) for r in rows] == [
                (0, 0, 0, 1),
                (0, 1, 1, 2),
                (0, 2, 2, 0),
                (1, 0, 1, 0),
            ]


def test_regression_rows_hold_the_value():
    spec = ModelSpec(layer="gcn", layers=1, hidden=8, out_dim=1, in_dim=2)
    model = GraphNet(spec).eval()
    g = Graph(x=torch.randn(4, 2), edge_index=torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]]), y=torch.tensor(0.5))
    rows = Predictor(model, Task("graph", "regression", 1, "mae"))([g, g])
    assert rows[0]["value"] == pytest.approx(float(_alone(model, g)[0, 0]), abs=1e-6)
    assert rows[1]["graph"] == 1 and rows[0]["target"] == 0.5 and "pred" not in rows[0]


def test_write_rows_csv_and_jsonl_round_trip(tmp_path):
    rows = [{"graph": 0, "pred": 1, "p_a": 0.25}, {"graph": 1, "pred": 0, "p_a": 0.75}]
    write_rows(rows, tmp_path / "a.csv")
    assert (tmp_path / "a.csv").read_text() == "graph,pred,p_a\n0,1,0.25\n1,0,0.75\n"
    write_rows(rows, tmp_path / "a.jsonl")
    assert [json.loads(l) for l in (tmp_path / "a.jsonl").read_text().splitlines()] == rows
    with pytest.raises(GatedGCNError, match="unknown output format 'xlsx'"):
        write_rows(rows, tmp_path / "a.xlsx")


def test_bad_inputs_get_the_projects_errors(run_dir, monkeypatch, capsys):
    run = load(run_dir)
    assert run.model.spec.node_vocab > 0  # the mini set embeds the in-degree as a category
    ok = Graph(x=torch.tensor([1, 2, 1]), edge_index=torch.tensor([[0, 1], [1, 2]]), edge_attr=torch.ones(2, 1))
    wrong = ok.replace(x=torch.randn(3, 4), name="floats")
    with pytest.raises(GraphError, match=r"input graph 1 \(floats\): the model expects node category ids"):
        run.predict([ok, wrong])
    with pytest.raises(GraphError, match=r"node category 999 is outside the model's"):
        run.predict([ok.replace(x=torch.tensor([1, 999, 1]))])
    with pytest.raises(GraphError, match=r"bare.*edge_attr \[E, 1\], got none"):
        run.predict([ok.replace(edge_attr=None, name="bare")])
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="CUDA is not available"):
        device_of("cuda")
    assert main(["predict", str(run_dir), "holdout"]) == 1
    assert "not a file, and dataset mini has the splits train, val, test" in capsys.readouterr().err
    assert main(["predict", str(run_dir / "missing"), "test"]) == 1
    assert "not a run directory" in capsys.readouterr().err


def test_gatedgcn_load_is_the_one_call(run_dir):
    import gatedgcn

    run = gatedgcn.load(run_dir, batch_size=4)
    graphs = run.dataset.splits["val"]
    assert run.predict.batch_size == 4 and run.predict(graphs) == load(run_dir).predict(graphs)


def _jsonl_graphs(path, count=24):
    """Paths (class 0) and stars (class 1) of 5-8 nodes, both edge directions, features of ones."""
    lines = []
    for k in range(count):
        n = 5 + k % 4
        pairs = [(v, v + 1) for v in range(n - 1)] if k % 2 == 0 else [(0, v) for v in range(1, n)]
        j = [a for a, b in pairs] + [b for a, b in pairs]
        i = [b for a, b in pairs] + [a for a, b in pairs]
        lines.append(json.dumps({"num_nodes": n, "edge_index": [j, i], "edge_attr": [[1.0]] * len(j), "y": k % 2}))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_predict_reads_json_lines_and_edge_lists(tmp_path, capsys):
    data = _jsonl_graphs(tmp_path / "graphs.jsonl")
    run_dir = train_tiny(tmp_path / "run", "data.name=jsonl", f"data.path={data}", "train.batch_size=4")
    assert main(["predict", str(run_dir), str(data), "--out", str(tmp_path / "p.jsonl"), "--quiet"]) == 0
    rows = [json.loads(l) for l in (tmp_path / "p.jsonl").read_text().splitlines()]
    run = load(run_dir)
    from gatedgcn.data.files import read_jsonl

    graphs = read_jsonl(data)
    assert [r["graph"] for r in rows] == list(range(24)) and [r["target"] for r in rows] == [k % 2 for k in range(24)]
    for row, g in zip(rows, graphs):
        assert [row["p_0"], row["p_1"]] == pytest.approx(
            torch.softmax(_alone(run.model, g)[0].double(), -1).tolist(), abs=1e-5
        )
    # an edge list is one graph: a star on 6 nodes, written by hand with its edge feature column
    star = tmp_path / "star.csv"
    star.write_text("source,target,w\n" + "".join(f"0,{v},1\n{v},0,1\n" for v in range(1, 6)))
    assert main(["predict", str(run_dir), str(star)]) == 0
    out = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    assert len(out) == 1 and out[0]["graph"] == "0"
    g = Graph(
        x=torch.ones(6, 1),
        edge_index=torch.tensor([[0, 1, 0, 2, 0, 3, 0, 4, 0, 5], [1, 0, 2, 0, 3, 0, 4, 0, 5, 0]]),
        edge_attr=torch.ones(10, 1),
    )
    assert float(out[0]["p_1"]) == pytest.approx(
        float(torch.softmax(_alone(run.model, g)[0].double(), -1)[1]), abs=1e-5
    )


def test_a_progress_bar_on_request_and_none_for_small_inputs(run_dir, capsys):
    run = load(run_dir, batch_size=4)
    graphs = run.dataset.splits["test"]
    run.predict(graphs)  # 16 graphs: below the threshold, no bar
    assert "predict" not in capsys.readouterr().err
    run.predict(graphs, progress=True)
    err = capsys.readouterr().err
    assert "predict: 100%" in err and "4/4" in err  # 16 graphs in batches of 4


def _both_ways(pairs):
    return [a for a, b in pairs] + [b for a, b in pairs], [b for a, b in pairs] + [a for a, b in pairs]


def test_readme_predict_lines_work_on_the_default_run(run_dir, tmp_path, capsys):
    """``gatedgcn predict runs/default graphs.jsonl`` and ``... edges.csv --nodes nodes.csv``: the user's bare graphs
    get the mini set's encoding (self-loops, in-degree categories), so a cycle scores as the mini set's own cycle."""
    import numpy as np

    from gatedgcn.data.mini import mini_graph

    run = load(run_dir)
    cycle = mini_graph(0, 12, np.random.default_rng(0))  # the generator's own cycle of 12 nodes
    star = mini_graph(1, 6, np.random.default_rng(0))  # and its star of 6 nodes
    j, i = _both_ways([(v, (v + 1) % 12) for v in range(12)])
    lines = [json.dumps({"num_nodes": 12, "edge_index": [j, i]}), json.dumps({"edge_index": [j, i], "x": [[0.5]] * 12})]
    (tmp_path / "graphs.jsonl").write_text("\n".join(lines) + "\n")
    unread = r"graphs.jsonl:2: the run's featurisation computes x from the in-degrees .* own x is not read$"
    with pytest.warns(UserWarning, match=unread):  # the second line's x is not read, and predict says so
        assert main(["predict", str(run_dir), str(tmp_path / "graphs.jsonl"), "--out", str(tmp_path / "p.jsonl")]) == 0
    rows = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    expected = torch.softmax(_alone(run.model, cycle)[0].double(), -1)
    for row in rows:  # the same graph twice: num_nodes given, or inferred from x (whose values are not read)
        assert [row[f"p_{c}"] for c in run.predict.classes] == pytest.approx(expected.tolist(), abs=1e-5)
    (tmp_path / "edges.csv").write_text("source,target\n" + "".join(f"0,{v}\n{v},0\n" for v in range(1, 6)))
    (tmp_path / "nodes.csv").write_text("id,f\n" + "".join(f"{v},1.0\n" for v in range(6)))
    capsys.readouterr()
    assert main(["predict", str(run_dir), str(tmp_path / "edges.csv"), "--nodes", str(tmp_path / "nodes.csv")]) == 0
    (out,) = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    p = torch.softmax(_alone(run.model, star)[0].double(), -1)
    assert [float(out[f"p_{c}"]) for c in run.predict.classes] == pytest.approx(p.tolist(), abs=1e-5)


def test_predict_names_every_input_whose_own_features_the_run_does_not_read(run_dir, tmp_path, recwarn):
    j, i = _both_ways([(0, 1), (1, 2)])
    lines = [{"edge_index": [j, i], "x": [[1.0]] * 3}]  # ones: what a reader gives anyway, nothing lost
    lines += [{"edge_index": [j, i], "x": [[0.1 * k]] * 3} for k in range(6)]
    lines.append({"num_nodes": 3, "edge_index": [j, i], "edge_attr": [[2.0]] * 4})
    (tmp_path / "g.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert main(["predict", str(run_dir), str(tmp_path / "g.jsonl"), "--out", str(tmp_path / "p.csv")]) == 0
    (warning,) = [str(w.message) for w in recwarn if "not read" in str(w.message)]
    assert warning.startswith(f"{tmp_path / 'g.jsonl'}:2: ") and "own x is not read; so do 6 more: " in warning
    assert all(f"g.jsonl:{n}" in warning for n in (3, 4, 5, 6)) and warning.endswith(" ...")
    recwarn.clear()
    (tmp_path / "edges.csv").write_text("0,1\n1,0\n")
    (tmp_path / "nodes.csv").write_text("id,f\n0,3.0\n1,1.0\n")
    assert main(["predict", str(run_dir), str(tmp_path / "edges.csv"), "--out", str(tmp_path / "q.csv")]) == 0
    assert [str(w.message).split(":")[0] for w in recwarn if "not read" in str(w.message)] == ["edges.csv"]


def test_a_degree_beyond_the_runs_categories_is_refused(run_dir, tmp_path, capsys):
    j, i = _both_ways([(0, v) for v in range(1, 40)])  # a star of 40 nodes: degree 40 > the mini set's 20 nodes
    (tmp_path / "big.jsonl").write_text(json.dumps({"num_nodes": 40, "edge_index": [j, i]}) + "\n")
    assert main(["predict", str(run_dir), str(tmp_path / "big.jsonl")]) == 1
    assert "node 0 has in-degree 40 (self-loop included)" in capsys.readouterr().err


RINGS = [
    "C1CC1",
    "C1CCC1",
    "C1CCCC1",
    "C1CCCCC1",
    "C1CCCCCC1",
    "c1ccccc1",
    "c1ccc2ccccc2c1",
    "c1ccncc1",
    "c1cc[nH]c1",
    "c1ccoc1",
    "c1ccsc1",
]
RINGS += [
    "c1c[nH]cn1",
    "c1ccc2[nH]ccc2c1",
    "c1ccc2ncccc2c1",
    "C1CCNCC1",
    "C1COCCN1",
    "C1COC1",
    "C1CNC1",
    "C1CCOC1",
    "c1ccncn1",
]


def test_a_chemists_csv_trains_and_predicts_with_ids_carried_through(tmp_path, capsys):
    pytest.importorskip("rdkit")
    from gatedgcn.data.featurise import smiles_to_graph

    rows = [f"m{k},{ring}{'C' * (k % 3)},{k * 0.1:.1f}" for k, ring in enumerate(RINGS * 2)]
    (tmp_path / "mine.csv").write_text("compound,SMILES,logS\n" + "\n".join(rows) + "\n")
    (tmp_path / "new.csv").write_text("compound,SMILES\nnew-1,CCO\nbad,C1CC\nnew-2,c1ccccc1O\n")
    run = tmp_path / "run"
    args = ["train", "--dataset", "smiles", "--data-path", str(tmp_path / "mine.csv"), "--quiet", "--out", str(run)]
    args += ["--set", "data.split=random"]  # the chemist's own split choice (the default is the scaffold split)
    assert main(args + ["--epochs", "1", "--layers", "1", "--hidden", "8"]) == 0
    assert "split: random" in (run / "config.yaml").read_text()
    capsys.readouterr()
    with pytest.warns(UserWarning, match=r"skipped 1 SMILES RDKit cannot read: line 3 \('C1CC'\)"):
        assert main(["predict", str(run), str(tmp_path / "new.csv"), "--out", str(tmp_path / "p.csv"), "--quiet"]) == 0
    out = list(csv.DictReader((tmp_path / "p.csv").read_text().splitlines()))
    assert [(r["compound"], r["SMILES"]) for r in out] == [("new-1", "CCO"), ("new-2", "c1ccccc1O")]
    model = load(run).model
    for r in out:
        assert float(r["logS"]) == pytest.approx(float(_alone(model, smiles_to_graph(r["SMILES"]))), abs=1e-5)
    # the training file itself, labels and all: each row keeps its label, the prediction is beside it
    assert main(["predict", str(run), str(tmp_path / "mine.csv"), "--out", str(tmp_path / "q.csv"), "--quiet"]) == 0
    again = list(csv.DictReader((tmp_path / "q.csv").read_text().splitlines()))
    assert list(again[0]) == ["compound", "SMILES", "logS", "pred_logS"]
    assert [r["logS"] for r in again] == [row.split(",")[2] for row in rows]
    for r in again[:5]:
        want = float(_alone(model, smiles_to_graph(r["SMILES"])))
        assert float(r["pred_logS"]) == pytest.approx(want, abs=1e-5)
