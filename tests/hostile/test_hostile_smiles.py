"""Hostile CSV files of SMILES (``--dataset smiles``): each refused naming the file (and line or column)."""

from __future__ import annotations

import gzip

import pytest
from harness import SMALL, refused

from gatedgcn.data import DATASETS

pytest.importorskip("rdkit")
if "smiles" not in DATASETS:
    pytest.skip("no smiles dataset in this checkout", allow_module_level=True)

MOLECULES = ["CCO", "CC", "CCC", "c1ccccc1", "CCN", "CCCl", "OCCO", "CC(=O)O", "C1CC1", "CCOC", "CN", "CCCC"]
VALID = "smiles,solubility\n" + "".join(f"{s},{k / 4}\n" for k, s in enumerate(MOLECULES))

CASES = {
    "not UTF-8": (VALID.encode()[:30] + b"\xff\xfe" + VALID.encode()[30:], ["mols.csv", "UTF-8"]),
    "UTF-16": (VALID.encode("utf-16"), ["mols.csv"]),
    "a 200,000-character field": (VALID + "C" * 200_000 + ",1.0\n", ["mols.csv"]),
    "only a header": ("smiles,solubility\n", ["mols.csv", "no rows"]),
    "empty": ("", ["mols.csv", "empty"]),
    "no smiles column": (VALID.replace("smiles,", "molecule,", 1), ["mols.csv", "smiles"]),
    "a row of another width": (VALID + "CCO,1.0,extra\n", ["mols.csv", "line 14"]),
    "a NUL byte": (VALID.replace("CCN", "C\x00N"), ["mols.csv"]),
    "no numeric column": ("smiles,name\n" + "".join(f"{s},m{k}\n" for k, s in enumerate(MOLECULES)), ["mols.csv"]),
    "no readable SMILES": ("smiles,y\n" + "".join(f"X{k}(((,1.0\n" for k in range(12)), ["mols.csv"]),
    "one molecule": ("smiles,y\nCCO,1.0\n", ["mols.csv"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_hostile_smiles_csv_is_refused_naming_the_file(box, case):
    content, names = CASES[case]
    path = box.write("mols.csv", content)
    refused(box, ["train", "--dataset", "smiles", "--data-path", path, "--out", box.run, *SMALL], *names)


def test_a_gzip_bomb_is_refused_within_the_memory_bound(box):
    member = gzip.compress(b"C" * (1 << 20), compresslevel=9)  # 1 MiB in about 1 KiB
    path = box.write("mols.csv.gz", gzip.compress(VALID.encode()) + member * 3072)  # 3 GiB in 3 MiB
    refused(box, ["train", "--dataset", "smiles", "--data-path", path, "--out", box.run, *SMALL], "mols.csv.gz")


def test_a_truncated_gzip_is_refused(box):
    data = gzip.compress(VALID.encode())
    path = box.write("mols.csv.gz", data[: len(data) // 2])
    refused(box, ["train", "--dataset", "smiles", "--data-path", path, "--out", box.run, *SMALL], "mols.csv.gz")
