"""LRGB Peptides-func: the MD5 check refuses a corrupted copy, the official files read as published (split sizes,
labels), the reader's errors name file and line, and a small copy of the format builds the multilabel dataset."""

from __future__ import annotations

import gzip
import hashlib
import pickle
import shutil

import numpy as np
import pytest
import torch

from gatedgcn.data import lrgb
from gatedgcn.errors import DataError

from helpers import SHARED, needs_shared

PEPTIDES = "lrgb/peptides-functional"


@needs_shared(PEPTIDES)
def test_a_corrupted_copy_is_refused_with_the_md5_it_has_and_the_one_expected(tmp_path):
    folder = tmp_path / PEPTIDES
    folder.mkdir(parents=True)
    for file in lrgb.MD5:
        shutil.copyfile(SHARED / PEPTIDES / file, folder / file)
    data = bytearray((folder / lrgb.SPLIT).read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit flipped
    (folder / lrgb.SPLIT).write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"MD5 [0-9a-f]{32}, expected 5a0114bdadc80b94fc7ae974f13ef061.*refusing"):
        lrgb.build_peptides_func(data_dir=tmp_path, cache_dir=None)
    (folder / lrgb.CSV).write_bytes((folder / lrgb.CSV).read_bytes()[:-10])  # truncated
    with pytest.raises(DataError, match="peptide_multi_class_dataset.csv.gz: MD5"):
        lrgb.build_peptides_func(data_dir=tmp_path, cache_dir=None)


def test_a_missing_folder_names_the_expected_path(tmp_path):
    with pytest.raises(DataError, match="lrgb/peptides-functional/peptide_multi_class_dataset.csv.gz does not exist"):
        lrgb.build_peptides_func(data_dir=tmp_path, cache_dir=None)


@needs_shared(PEPTIDES)
def test_the_official_files_pass_the_check_and_read_as_published():
    folder = SHARED / PEPTIDES
    for file, md5 in lrgb.MD5.items():
        assert lrgb.check_md5(folder / file, md5) == md5
    smiles, labels = lrgb.read_peptides(folder / lrgb.CSV)
    assert len(smiles) == 15535 and labels.shape == (15535, 10)
    assert set(np.unique(labels).tolist()) == {0.0, 1.0}
    split = lrgb.read_split(folder / lrgb.SPLIT, len(smiles))
    assert {k: len(v) for k, v in split.items()} == {"train": 10873, "val": 2331, "test": 2331}
    assert len(np.unique(np.concatenate(list(split.values())))) == 15535  # a partition of the rows


def _write_copy(folder, rows, split) -> None:
    folder.mkdir(parents=True)
    with gzip.open(folder / lrgb.CSV, "wt") as fh:
        fh.write(",smiles,peptide_seq,labels,identifier\n")
        for k, (smi, lab) in enumerate(rows):
            fh.write(f'{k},{smi},X,"{lab}",{k}\n')
    (folder / lrgb.SPLIT).write_bytes(pickle.dumps({k: np.asarray(v, dtype=np.int64) for k, v in split.items()}))


def _md5s(folder, monkeypatch) -> None:
    monkeypatch.setattr(
        lrgb, "MD5", {f: hashlib.md5((folder / f).read_bytes()).hexdigest() for f in (lrgb.CSV, lrgb.SPLIT)}
    )


def test_a_small_copy_builds_the_multilabel_dataset_with_ogb_features_and_caches_it(tmp_path, monkeypatch):
    folder = tmp_path / "data" / PEPTIDES
    rows = [
        ("CC(=O)NCC(=O)O", [1, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
        ("NCC(=O)NCC(=O)O", [0, 1, 0, 0, 0, 0, 0, 0, 0, 0]),
        ("c1ccccc1CC(N)C(=O)O", [0, 0, 1, 1, 0, 0, 0, 0, 0, 0]),
        ("CC(N)C(=O)O", [0, 0, 0, 0, 0, 0, 0, 0, 1, 0]),
    ]
    _write_copy(folder, rows, {"train": [2, 0], "val": [1], "test": [3]})
    _md5s(folder, monkeypatch)
    data = lrgb.build_peptides_func(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache")
    assert data.task.kind == "multilabel" and data.task.num_outputs == 10 and data.task.metric == "ap"
    train = data.splits["train"]
    assert [g.name for g in train] == ["peptides-func[2]", "peptides-func[0]"]  # the split's order
    assert torch.equal(train[1].y, torch.tensor([[1.0, 0, 0, 0, 0, 0, 0, 0, 0, 1]]))
    assert train[0].num_nodes == 12 and train[0].x.shape == (12, 9)  # benzene ring + CC(N)C(=O)O: 12 heavy atoms
    assert train[0].num_edges == 2 * 12  # 12 bonds (one ring), both directions
    assert int(train[0].x.max()) < data.node_vocab and int(train[0].edge_attr.max()) < data.edge_vocab
    assert list((tmp_path / "cache").glob("peptides_func-*.safetensors"))
    again = lrgb.build_peptides_func(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache")
    assert all(torch.equal(a.x, b.x) and torch.equal(a.y, b.y) for a, b in zip(train, again.splits["train"]))


@pytest.mark.parametrize(
    ("labels", "split", "message"),
    [
        ("[0, 1]", {"train": [0], "val": [], "test": []}, r"line 2: labels = '\[0, 1\]' is not a list of 10"),
        ("[0, 0, 0, 0, 0, 0, 0, 0, 0, 2]", {"train": [0], "val": [], "test": []}, "line 2: labels"),
        ("[0, 0, 0, 0, 0, 0, 0, 0, 0, 1]", {"train": [0], "val": [1], "test": []}, "outside the 1 rows"),
        ("[0, 0, 0, 0, 0, 0, 0, 0, 0, 1]", {"train": [0], "val": [0], "test": []}, "repeats a row"),
        ("[0, 0, 0, 0, 0, 0, 0, 0, 0, 1]", {"train": [0], "test": []}, "keys train, val, test"),
    ],
)
def test_bad_files_get_errors_naming_file_and_place(tmp_path, monkeypatch, labels, split, message):
    folder = tmp_path / PEPTIDES
    folder.mkdir(parents=True)
    with gzip.open(folder / lrgb.CSV, "wt") as fh:
        fh.write(f',smiles,peptide_seq,labels,identifier\n0,CCO,X,"{labels}",0\n')
    (folder / lrgb.SPLIT).write_bytes(pickle.dumps({k: np.asarray(v, dtype=np.int64) for k, v in split.items()}))
    _md5s(folder, monkeypatch)
    with pytest.raises(DataError, match=message):
        lrgb.build_peptides_func(data_dir=tmp_path, cache_dir=None)


def test_a_split_pickle_that_names_a_function_is_refused_before_it_runs(tmp_path, monkeypatch):
    folder = tmp_path / PEPTIDES
    _write_copy(folder, [("CCO", [0] * 10)], {"train": [0], "val": [], "test": []})

    class Evil:
        def __reduce__(self):
            return (shutil.rmtree, (str(tmp_path / "victim"),))

    (tmp_path / "victim").mkdir()
    (folder / lrgb.SPLIT).write_bytes(pickle.dumps({"train": Evil(), "val": [], "test": []}))
    _md5s(folder, monkeypatch)
    with pytest.raises(DataError, match="refused to unpickle shutil.rmtree"):
        lrgb.build_peptides_func(data_dir=tmp_path, cache_dir=None)
    assert (tmp_path / "victim").is_dir()
