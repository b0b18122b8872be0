"""Molecules from SMILES (AQSOL from AqSolDB, ESOL), graph regression of the solubility.

A molecule is a graph with one node per atom (category = element symbol, numbered in the
sorted order of the symbols in the file) and two directed edges per bond (category = bond
type: single, double, triple, aromatic, other).  SMILES that RDKit cannot sanitise are read
unsanitised, with their rings found, as they are (AqSolDB has two such rows).

The split is the benchmark's deterministic Bemis–Murcko scaffold split: molecules are
grouped by scaffold (with chirality); the groups are ordered by (size, smallest member
index), largest first; each group goes whole to train while train stays within 80 % of the
molecules, else to validation while train + validation stay within 90 %, else to test.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Sequence
from pathlib import Path

import torch

from gatedgcn.data.cache import cached
from gatedgcn.data.dataset import Dataset, Task
from gatedgcn.errors import DataError
from gatedgcn.graph import Graph

__all__ = ["SOURCES", "BOND_TYPES", "scaffold_split", "read_smiles_csv", "read_molecules", "build_aqsol", "build_esol"]

BOND_TYPES = ("SINGLE", "DOUBLE", "TRIPLE", "AROMATIC")  # anything else is category 4

# dataset -> (folder under data_dir, file, SMILES column, target column)
SOURCES = {
    "AQSOL": ("molecules/aqsoldb", "data_curated.csv", "SMILES", "Solubility"),
    "ESOL": ("molecules/esol", "delaney-processed.csv", "smiles", "measured log solubility in mols per litre"),
}


def read_smiles_csv(path: Path, smiles_column: str, target_column: str) -> tuple[list[str], list[float]]:
    """SMILES (stripped) and float targets of a CSV file; errors name the file and the line."""
    try:
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in (smiles_column, target_column) if c not in (reader.fieldnames or [])]
            if missing:
                raise DataError(f"{path}: no column {missing[0]!r} (columns: {', '.join(reader.fieldnames or [])})")
            smiles, targets = [], []
            for row in reader:
                try:
                    targets.append(float(row[target_column]))
                except (TypeError, ValueError):
                    raise DataError(
                        f"{path}, line {reader.line_num}: {target_column} = {row[target_column]!r} is not a number"
                    ) from None
                smiles.append((row[smiles_column] or "").strip())
    except OSError as err:
        raise DataError(f"cannot read {path}: {err.strerror}") from None
    return smiles, targets


def _molecule(smiles: str, where: str):
    from rdkit import Chem

    mol = Chem.MolFromSmiles(smiles)
    if mol is None:  # e.g. a valence RDKit refuses: keep the atoms and bonds as written
        mol = Chem.MolFromSmiles(smiles, sanitize=False)
        if mol is None:
            raise DataError(f"{where}: RDKit cannot parse the SMILES {smiles!r}")
        mol.UpdatePropertyCache(strict=False)
        Chem.FastFindRings(mol)
    if mol.GetNumAtoms() == 0:
        raise DataError(f"{where}: the SMILES {smiles!r} has no atoms")
    return mol


def _bond_type(bond) -> int:
    name = str(bond.GetBondType())
    return BOND_TYPES.index(name) if name in BOND_TYPES else len(BOND_TYPES)


def _graph(mol, vocab: dict[str, int], target: float, name: str) -> Graph:
    senders, receivers, types = [], [], []
    for bond in mol.GetBonds():
        a, b, t = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx(), _bond_type(bond)
        senders += [a, b]
        receivers += [b, a]
        types += [t, t]
    return Graph(
        x=torch.tensor([vocab[atom.GetSymbol()] for atom in mol.GetAtoms()], dtype=torch.long),  # [N] element ids
        edge_index=torch.tensor([senders, receivers], dtype=torch.long).reshape(2, -1),  # [2, E] both directions
        edge_attr=torch.tensor(types, dtype=torch.long),  # [E] bond type ids
        y=torch.tensor(target, dtype=torch.float32),
        name=name,
    )


def scaffold_split(scaffolds: Sequence[str], train: float = 0.8, val: float = 0.9) -> dict[str, list[int]]:
    """Indices per split: scaffold groups by (size, smallest index) descending, filled into train, val, test."""
    groups: dict[str, list[int]] = {}
    for k, s in enumerate(scaffolds):
        groups.setdefault(s, []).append(k)
    ordered = sorted(groups.values(), key=lambda g: (len(g), g[0]), reverse=True)
    n = len(scaffolds)
    out: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    for g in ordered:
        if len(out["train"]) + len(g) <= train * n:
            out["train"] += g
        elif len(out["train"]) + len(out["val"]) + len(g) <= val * n:
            out["val"] += g
        else:
            out["test"] += g
    return {split: sorted(ids) for split, ids in out.items()}


def read_molecules(path: Path, smiles_column: str, target_column: str) -> tuple[list, list[float], list[str]]:
    """RDKit molecules, targets and Bemis–Murcko scaffolds (with chirality) of a SMILES CSV file."""
    from rdkit import rdBase
    from rdkit.Chem.Scaffolds import MurckoScaffold

    smiles, targets = read_smiles_csv(path, smiles_column, target_column)
    with rdBase.BlockLogs():
        mols = [_molecule(s, f"{path}, row {k + 1}") for k, s in enumerate(smiles)]
        scaffolds = [MurckoScaffold.MurckoScaffoldSmiles(mol=m, includeChirality=True) for m in mols]
    return mols, targets, scaffolds


def _build_splits(path: Path, smiles_column: str, target_column: str) -> dict[str, list[Graph]]:
    mols, targets, scaffolds = read_molecules(path, smiles_column, target_column)
    vocab = {symbol: k for k, symbol in enumerate(sorted({a.GetSymbol() for m in mols for a in m.GetAtoms()}))}
    return {
        split: [_graph(mols[k], vocab, targets[k], f"{path.stem}[{k}]") for k in ids]
        for split, ids in scaffold_split(scaffolds).items()
    }


def _source(name: str, data_dir: Path | None) -> Path:
    folder, file, _, _ = SOURCES[name]
    if data_dir is None:
        raise DataError(
            f"{name}: no data folder; pass --data-dir (config data.data_dir) or set GATEDGCN_DATA_DIR to the folder holding {folder}/"
        )
    path = Path(data_dir) / folder / file
    if not path.is_file():
        raise DataError(f"{name}: {path} does not exist (expected {folder}/{file} under the data folder {data_dir})")
    return path


def _build(name: str, data_dir: Path | None, cache_dir: Path | None) -> Dataset:
    path = _source(name, data_dir)
    _, _, smiles_column, target_column = SOURCES[name]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    params = {"file_sha256": digest, "smiles": smiles_column, "target": target_column, "split": "scaffold-0.8-0.9"}
    splits = cached(name.lower(), params, lambda: _build_splits(path, smiles_column, target_column), cache_dir)
    vocab = 1 + max(int(g.x.max()) for graphs in splits.values() for g in graphs)
    return Dataset(
        name=name,
        task=Task(level="graph", kind="regression", num_outputs=1, metric="mae"),
        splits=splits,
        node_vocab=vocab,
        edge_vocab=len(BOND_TYPES) + 1,
        info={"source": str(path), "sha256": digest},
    )


def build_aqsol(*, data_dir: Path | None = None, cache_dir: Path | None = None, **_: object) -> Dataset:
    """AQSOL: 9,982 AqSolDB molecules, scaffold split 7,985 / 998 / 999, target log solubility."""
    return _build("AQSOL", data_dir, cache_dir)


def build_esol(*, data_dir: Path | None = None, cache_dir: Path | None = None, **_: object) -> Dataset:
    """ESOL (Delaney): 1,128 molecules, scaffold split, target measured log solubility."""
    return _build("ESOL", data_dir, cache_dir)
