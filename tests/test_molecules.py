"""Molecules: SMILES -> graphs (hand-checked), the scaffold split rule on a hand-computed case and on AqSolDB
(the benchmark's 7,985 / 998 / 999), ESOL, errors naming the file, and a one-epoch run."""

from pathlib import Path

import pytest

from gatedgcn.app.config import Config
from gatedgcn.app.launch import train
from gatedgcn.data import load_dataset
from gatedgcn.data.molecules import BOND_TYPES, SOURCES, read_molecules, scaffold_split
from gatedgcn.errors import DataError

from helpers import SHARED, needs_shared

ROWS = [
    ("CCO", -0.5),
    ("c1ccccc1", -1.6),
    ("CC(=O)O", 1.2),
    ("C#N", 0.3),
    ("[Na+].[Cl-]", 0.1),
    ("CC1=CC=C[NH++]([O-])[CH-]1", -2.0),
]


def _write_aqsol(root: Path, rows=ROWS, header="ID,SMILES,Solubility") -> Path:
    folder = root / "molecules" / "aqsoldb"
    folder.mkdir(parents=True, exist_ok=True)
    lines = [header] + [f"A-{k},{s},{y}" for k, (s, y) in enumerate(rows)]
    (folder / "data_curated.csv").write_text("\n".join(lines) + "\n")
    return root


def test_scaffold_split_hand_computed():
    scaffolds = ["a", "b", "a", "c", "b", "a", "d", "e", "e", "f"]
    # groups by (size, smallest index) descending: a(3) e(2, 7) b(2, 1) f(9) d(6) c(3); train <= 8, train + val <= 9
    assert scaffold_split(scaffolds) == {"train": [0, 1, 2, 4, 5, 7, 8, 9], "val": [6], "test": [3]}


def test_smiles_become_graphs_by_element_and_bond_type(tmp_path):
    d = load_dataset("AQSOL", data_dir=_write_aqsol(tmp_path), cache_dir=None)
    graphs = {g.name: g for split in d.splits.values() for g in split}
    assert len(graphs) == len(ROWS)
    vocab = sorted({"C", "O", "N", "Na", "Cl"})  # hydrogens written in brackets stay implicit
    ethanol = graphs["data_curated[0]"]
    assert ethanol.x.tolist() == [vocab.index("C"), vocab.index("C"), vocab.index("O")]
    assert sorted(map(tuple, ethanol.edge_index.t().tolist())) == [(0, 1), (1, 0), (1, 2), (2, 1)]
    assert ethanol.edge_attr.tolist() == [BOND_TYPES.index("SINGLE")] * 4
    assert float(ethanol.y) == pytest.approx(-0.5)
    assert graphs["data_curated[1]"].edge_attr.tolist() == [BOND_TYPES.index("AROMATIC")] * 12
    assert sorted(graphs["data_curated[2]"].edge_attr.tolist()) == [0, 0, 0, 0, 1, 1]
    assert graphs["data_curated[3]"].edge_attr.tolist() == [2, 2]
    assert graphs["data_curated[4]"].num_nodes == 2 and graphs["data_curated[4]"].num_edges == 0
    assert graphs["data_curated[5]"].num_nodes == 8  # RDKit refuses its valence; read unsanitised
    assert d.node_vocab == len(vocab) and d.edge_vocab == 5 and d.task.metric == "mae"


def test_bad_files_raise_data_errors_naming_the_file(tmp_path):
    with pytest.raises(DataError, match="--data-dir"):
        load_dataset("AQSOL", data_dir=None, cache_dir=None)
    with pytest.raises(DataError, match="data_curated.csv"):
        load_dataset("AQSOL", data_dir=tmp_path, cache_dir=None)
    _write_aqsol(tmp_path / "a", [("CCO", "soluble")])
    with pytest.raises(DataError, match="line 2"):
        load_dataset("AQSOL", data_dir=tmp_path / "a", cache_dir=None)
    _write_aqsol(tmp_path / "b", header="ID,smi,Solubility")
    with pytest.raises(DataError, match="no column 'SMILES'"):
        load_dataset("AQSOL", data_dir=tmp_path / "b", cache_dir=None)
    _write_aqsol(tmp_path / "c", [("C1CC", 1.0)])
    with pytest.raises(DataError, match="row 1"):
        load_dataset("AQSOL", data_dir=tmp_path / "c", cache_dir=None)


@needs_shared("molecules")
def test_aqsol_scaffold_split_has_the_benchmarks_sizes():
    folder, file, smiles_column, target_column = SOURCES["AQSOL"]
    mols, targets, scaffolds = read_molecules(SHARED / folder / file, smiles_column, target_column)
    assert len(mols) == len(targets) == 9982
    split = scaffold_split(scaffolds)
    assert {k: len(v) for k, v in split.items()} == {"train": 7985, "val": 998, "test": 999}
    assert sorted(split["train"] + split["val"] + split["test"]) == list(range(9982))
    assert len({a.GetSymbol() for m in mols for a in m.GetAtoms()}) == 65  # the benchmark's 65 atom types
    assert 17.0 < sum(m.GetNumAtoms() for m in mols) / 9982 < 18.0


@needs_shared("molecules")
def test_esol_reads_the_rows_with_trailing_spaces():
    d = load_dataset("ESOL", data_dir=SHARED, cache_dir=None)
    sizes = {k: len(v) for k, v in d.splits.items()}
    assert sum(sizes.values()) == 1128
    assert sizes["train"] <= 0.8 * 1128 and sizes["train"] + sizes["val"] <= 0.9 * 1128 and sizes["test"] > 0


def test_one_epoch_smoke_run(tmp_path):
    rows = [(s, y) for s, y in ROWS] * 4
    config = Config().with_overrides(
        [
            "data.name=AQSOL",
            f"data.data_dir={_write_aqsol(tmp_path / 'data', rows)}",
            f"data.cache_dir={tmp_path / 'cache'}",
            "model.layers=2",
            "model.hidden=16",
            "model.readout=mean",
            "model.graph_size_norm=false",
            "train.epochs=1",
            "train.batch_size=8",
        ]
    )
    summary = train(config, tmp_path / "run", progress=False)
    assert summary["metric"] == "mae" and summary["train"]["mae"] > 0
