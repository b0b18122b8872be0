"""LRGB Peptides-func (Dwivedi et al. 2022, the Long Range Graph Benchmark): 15,535 peptides, 10 binary functions.

Read from ``DATA_DIR/lrgb/peptides-functional/`` as LRGB publishes it:

    peptide_multi_class_dataset.csv.gz        columns ``smiles, peptide_seq, labels, identifier``; ``labels``
                                              a list of 10 binary labels ("[0, 1, ...]")
    splits_random_stratified_peptide.pickle   a dict of numpy index arrays ``train`` / ``val`` / ``test``
                                              (10,873 / 2,331 / 2,331), read with the restricted unpickler

Both files are checked against the MD5s LRGB's own loader checks before anything is read; a copy that does not
match is refused.  Each molecule becomes a graph with OGB's featurisation (9 atom and 3 bond categorical
features, :mod:`gatedgcn.data.featurise`), its target the ``[1, 10]`` row of labels; the task is multilabel
classification, scored by the average precision over the 10 tasks.  The graphs are cached with the dataset.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
from pathlib import Path

import numpy as np
import torch

from gatedgcn.data.cache import cached
from gatedgcn.data.dataset import Dataset, Task
from gatedgcn.data.featurise import ATOM_FEATURE_DIMS, BOND_FEATURE_DIMS, smiles_to_graph
from gatedgcn.data.safepickle import safe_load_pickle
from gatedgcn.errors import DataError
from gatedgcn.graph import Graph

__all__ = [
    "FOLDER",
    "CSV",
    "SPLIT",
    "MD5",
    "NUM_TASKS",
    "check_md5",
    "read_peptides",
    "read_split",
    "build_peptides_func",
]

FOLDER = "lrgb/peptides-functional"
CSV = "peptide_multi_class_dataset.csv.gz"
SPLIT = "splits_random_stratified_peptide.pickle"
MD5 = {CSV: "701eb743e899f4d793f0e13c8fa5a1b4", SPLIT: "5a0114bdadc80b94fc7ae974f13ef061"}  # as LRGB checks them
NUM_TASKS = 10
SPLITS = ("train", "val", "test")


def check_md5(path: Path, expected: str) -> str:
    """The MD5 of ``path``; :class:`DataError` when it is not ``expected`` (a corrupted or different copy)."""
    try:
        digest = hashlib.md5(path.read_bytes()).hexdigest()
    except OSError as err:
        raise DataError(f"cannot read {path}: {err.strerror}") from None
    if digest != expected:
        raise DataError(
            f"{path}: MD5 {digest}, expected {expected} (LRGB's published file): the copy is corrupted or another "
            "version; refusing to read it. Fetch the file again (gatedgcn data fetch, or LRGB's release)"
        )
    return digest


def _labels(text: str, where: str) -> list[float]:
    try:
        labels = json.loads(text)
    except (TypeError, ValueError):
        labels = None
    if not (isinstance(labels, list) and len(labels) == NUM_TASKS and all(v in (0, 1) for v in labels)):
        raise DataError(f"{where}: labels = {text!r} is not a list of {NUM_TASKS} binary labels")
    return [float(v) for v in labels]


def read_peptides(path: Path) -> tuple[list[str], np.ndarray]:
    """SMILES and labels ``[G, 10]`` of the gzipped CSV; errors name the file and the line."""
    smiles, labels = [], []
    try:
        with gzip.open(path, "rt", newline="") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in ("smiles", "labels") if c not in (reader.fieldnames or [])]
            if missing:
                raise DataError(f"{path}: no column {missing[0]!r} (columns: {', '.join(reader.fieldnames or [])})")
            for row in reader:
                where = f"{path}, line {reader.line_num}"
                if not (row["smiles"] or "").strip():
                    raise DataError(f"{where}: empty smiles")
                smiles.append(row["smiles"].strip())
                labels.append(_labels(row["labels"], where))
    except (OSError, EOFError) as err:
        raise DataError(f"cannot read {path}: {err}") from None
    return smiles, np.asarray(labels, dtype=np.float32).reshape(-1, NUM_TASKS)


def read_split(path: Path, num_graphs: int) -> dict[str, np.ndarray]:
    """The official split: disjoint index arrays ``train`` / ``val`` / ``test`` into the CSV's rows."""
    split = safe_load_pickle(path)
    if not isinstance(split, dict) or set(split) != set(SPLITS):
        raise DataError(
            f"{path}: expected a dict with keys train, val, test, got {sorted(split) if isinstance(split, dict) else type(split).__name__}"
        )
    seen = np.zeros(num_graphs, dtype=bool)
    for name in SPLITS:
        ids = split[name]
        if not (isinstance(ids, np.ndarray) and ids.ndim == 1 and ids.dtype.kind in "iu"):
            raise DataError(f"{path}: split {name!r} is not a 1-D integer array")
        if len(ids) and (ids.min() < 0 or ids.max() >= num_graphs):
            raise DataError(f"{path}: split {name!r} has an index outside the {num_graphs} rows of the CSV")
        if seen[ids].any() or len(np.unique(ids)) != len(ids):
            raise DataError(f"{path}: split {name!r} repeats a row of another split or of itself")
        seen[ids] = True
    return {name: split[name].astype(np.int64) for name in SPLITS}


def _build_splits(folder: Path) -> dict[str, list[Graph]]:
    smiles, labels = read_peptides(folder / CSV)
    split = read_split(folder / SPLIT, len(smiles))
    return {
        name: [
            smiles_to_graph(smiles[k], "ogb", y=torch.from_numpy(labels[k : k + 1]), name=f"peptides-func[{k}]")
            for k in ids.tolist()
        ]
        for name, ids in split.items()
    }


def build_peptides_func(*, data_dir: Path | None = None, cache_dir: Path | None = None, **_: object) -> Dataset:
    """Peptides-func: split 10,873 / 2,331 / 2,331, 10 binary tasks, average precision."""
    if data_dir is None:
        raise DataError(
            f"peptides-func: no data folder; pass --data-dir (config data.data_dir) or set GATEDGCN_DATA_DIR to the folder holding {FOLDER}/"
        )
    folder = Path(data_dir) / FOLDER
    for file in MD5:
        if not (folder / file).is_file():
            raise DataError(
                f"peptides-func: {folder / file} does not exist (expected {FOLDER}/{file} under {data_dir})"
            )
    digests = {file: check_md5(folder / file, md5) for file, md5 in MD5.items()}
    params = {"md5": digests, "featurisation": "ogb", "targets": "labels[1, 10]"}
    splits = cached("peptides_func", params, lambda: _build_splits(folder), cache_dir)
    return Dataset(
        name="peptides-func",
        task=Task(level="graph", kind="multilabel", num_outputs=NUM_TASKS, metric="ap"),
        splits=splits,
        node_vocab=sum(ATOM_FEATURE_DIMS),
        edge_vocab=sum(BOND_FEATURE_DIMS),
        info={"source": str(folder), "md5": digests},
    )
