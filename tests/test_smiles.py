"""The user's SMILES CSV: columns found as a MoleculeNet file has them, missing labels kept as NaN, the three splits,
the HIV scaffold split of ogbg-molhiv (32,901 / 4,113 / 4,113), and every bad input named with file and line."""

import gzip
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("rdkit")

from gatedgcn.data.featurise import parse_smiles  # noqa: E402
from gatedgcn.data.smiles import build_smiles, read_smiles_table, split_rows  # noqa: E402
from gatedgcn.errors import DataError  # noqa: E402

from helpers import SHARED

HIV = SHARED / "molecules" / "moleculenet" / "hiv.csv"

MOLECULES = ["CCO", "c1ccccc1", "CC(=O)O", "C#N", "c1ccncc1", "CCN", "C1CCCCC1", "OC1CCCC1", "CC(C)O", "c1ccc2ccccc2c1"]


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def _regression_file(tmp_path: Path, n: int = 40) -> Path:
    rows = [f"m{k},{MOLECULES[k % len(MOLECULES)]},{k * 0.5},{'' if k % 4 == 0 else k}" for k in range(n)]
    return _write(tmp_path / "mine.csv", ["id,SMILES,logS,other"] + rows)


def test_defaults_read_the_smiles_column_and_every_numeric_column(tmp_path):
    table = read_smiles_table(_regression_file(tmp_path))
    assert table.smiles_column == "SMILES" and table.target_columns == ["logS", "other"]  # 'id' is not numeric
    assert table.targets[1].tolist() == [0.5, 1.0]
    assert np.isnan(table.targets[0, 1]) and table.targets[0, 0] == 0.0  # an empty cell is a missing label, not 0


def test_regression_random_split_keeps_missing_labels_as_nan(tmp_path):
    data = build_smiles(path=_regression_file(tmp_path), split="random", seed=3)
    assert data.task.kind == "regression" and data.task.num_outputs == 2 and data.task.metric == "mae"
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 32, "val": 4, "test": 4}
    graphs = {g.name: g for split in data.splits.values() for g in split}
    assert torch.isnan(graphs["mine.csv:2"].y[0, 1]) and graphs["mine.csv:3"].y.tolist() == [[0.5, 1.0]]
    again = build_smiles(path=_regression_file(tmp_path), split="random", seed=3)
    assert [g.name for g in again.splits["test"]] == [g.name for g in data.splits["test"]]  # seeded


def test_binary_columns_are_a_multilabel_task_and_gz_is_read(tmp_path):
    rows = [f"{MOLECULES[k % 10]},{k % 2},{'' if k % 3 else (k // 3) % 2}" for k in range(30)]
    text = "\n".join(["smiles,NR-AR,SR-p53"] + rows) + "\n"
    (tmp_path / "tox.csv.gz").write_bytes(gzip.compress(text.encode()))
    data = build_smiles(path=tmp_path / "tox.csv.gz", split="random")
    assert data.task.kind == "multilabel" and data.task.num_outputs == 2 and data.task.metric == "rocauc"
    y = torch.cat([g.y for split in data.splits.values() for g in split])  # [30, 2]
    assert int(torch.isnan(y[:, 1]).sum()) == 20 and not torch.isnan(y[:, 0]).any()
    assert data.node_vocab == 174 and data.edge_vocab == 13


def test_a_split_column(tmp_path):
    parts = ["train"] * 6 + ["valid", "test", "val", "test"]
    path = _write(
        tmp_path / "s.csv", ["smiles,y,fold"] + [f"{m},{k},{p}" for k, (m, p) in enumerate(zip(MOLECULES, parts))]
    )
    data = build_smiles(path=path, split="fold")
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 6, "val": 2, "test": 2}
    assert [g.name for g in data.splits["val"]] == ["s.csv:8", "s.csv:10"]


def test_one_scaffold_for_every_molecule_is_refused_with_the_fix(tmp_path):
    path = _write(tmp_path / "benz.csv", ["smiles,y"] + [f"c1ccccc1{'C' * k},{k}" for k in range(1, 11)])
    with pytest.raises(DataError, match="the scaffold split leaves 0 molecules for training: use data.split=random"):
        build_smiles(path=path)
    assert len(build_smiles(path=path, split="random").splits["train"]) == 8


def test_unreadable_smiles_are_skipped_with_one_warning(tmp_path):
    rows = [f"{m},{k}" for k, m in enumerate(MOLECULES * 2)]
    rows[3], rows[7] = "C1CC,3", "not a molecule,7"
    path = _write(tmp_path / "some.csv", ["smiles,y"] + rows)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = build_smiles(path=path, split="random")
    messages = [str(w.message) for w in caught if "RDKit" in str(w.message)]
    assert len(messages) == 1 and "skipped 2 of 20" in messages[0] and "line 5 ('C1CC')" in messages[0]
    assert sum(len(v) for v in data.splits.values()) == 18


@pytest.mark.parametrize(
    "lines, options, words",
    [
        (["SMILES_X,y", "CCO,1"], {}, "no column named 'smiles'; name the SMILES column with data.smiles_column"),
        (["smiles,y", "CCO,1"], {"targets": "logP"}, "no target column 'logP'"),
        (["smiles,y", "CCO,1", "CC,high"], {"targets": "y"}, "line 3: target y = 'high' is not a number"),
        (["smiles,y", "C1CC,1", "xx,2"], {}, "RDKit cannot read any of the 2 SMILES"),
        (["smiles,name", "CCO,ethanol"], {}, "no numeric column besides 'smiles'"),
        (["smiles,y", "CCO,1,2"], {}, "line 2: 3 cells, the header has 2"),
        (["smiles,y", "CCO,0.5"], {"task": "multilabel"}, "needs 0 / 1 targets"),
    ],
)
def test_bad_files_are_named_with_line_and_column(tmp_path, lines, options, words):
    path = _write(tmp_path / "bad.csv", lines)
    with pytest.raises(DataError) as info:
        build_smiles(path=path, split="random", **options)
    assert words in str(info.value) and str(path) in str(info.value)


@pytest.mark.skipif(not HIV.is_file(), reason=f"no shared HIV file at {HIV}")
def test_hiv_scaffold_split_is_ogbg_molhiv():
    table = read_smiles_table(HIV)
    assert table.target_columns == ["HIV_active"] and len(table.smiles) == 41127
    mols = [parse_smiles(s) for s in table.smiles]
    assert all(m is not None for m in mols)  # a few only through the unsanitised fallback
    parts = split_rows(table, list(range(len(mols))), mols, "scaffold", 0)
    assert {k: len(v) for k, v in parts.items()} == {"train": 32901, "val": 4113, "test": 4113}


def test_a_missing_rdkit_is_named_before_any_work(monkeypatch, tmp_path):
    import importlib.util

    from gatedgcn.data import load_dataset
    from gatedgcn.errors import ConfigError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "rdkit" else real(name, *a))
    with pytest.raises(ConfigError, match=r"dataset smiles needs RDKit: pip install 'gatedgcn\[chem\]'"):
        load_dataset("smiles", path=tmp_path / "absent.csv")  # refused before the file is looked for
    with pytest.raises(ConfigError, match=r"dataset tox21 needs RDKit"):
        load_dataset("tox21", data_dir=tmp_path)


def test_counts_of_a_dataset(tmp_path):
    data = build_smiles(path=_regression_file(tmp_path, n=10), split="random")
    c = data.counts()
    # 10 molecules: 3 CCO (3 atoms, 2 bonds) ... counted by hand from MOLECULES: atoms 3+6+4+2+6+3+6+6+4+10, bonds x2
    assert c["graphs"] == 10 and c["nodes"] == 50 and c["edges"] == 2 * (2 + 6 + 3 + 1 + 6 + 2 + 6 + 6 + 3 + 11)
    assert c["splits"] == {"train": 8, "val": 1, "test": 1} and c["outputs"] == 2
    assert data.summary_line().startswith("mine.csv: 10 graphs, 50 nodes")
