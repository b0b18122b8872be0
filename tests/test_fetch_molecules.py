"""``gatedgcn data fetch`` covers every file-backed dataset: AQSOL, ESOL, the MoleculeNet files and Peptides-func
are pinned (size and sha256 of the shared copies) at the paths their readers open.  No network: a ``file://``
mirror of the shared folder stands in for GitHub, and a tampered copy in it is refused."""

from __future__ import annotations

import hashlib
import shutil

import pytest

from gatedgcn.cli import main
from gatedgcn.data import lrgb
from gatedgcn.data.catalog import CATALOG
from gatedgcn.data.download import Fetcher, fetch_dataset
from gatedgcn.data.names import MOLECULE_FILES, MOLECULENET, info_of
from gatedgcn.errors import DataError

from helpers import SHARED, needs_shared

FILE_BACKED = [*MOLECULE_FILES, *MOLECULENET, "peptides-func"]


@pytest.mark.parametrize("name", FILE_BACKED)
def test_every_file_backed_dataset_is_pinned_where_its_reader_looks(name):
    e = CATALOG[name]
    where = info_of(name).where
    paths = [f.path for f in e.files]
    assert paths == [where] if where.endswith(".csv") else all(p.startswith(where) for p in paths)
    if name == "peptides-func":
        assert sorted(p.rsplit("/", 1)[1] for p in paths) == sorted([lrgb.CSV, lrgb.SPLIT])
    assert all(f.url.startswith("https://github.com/") and len(f.sha256) == 64 for f in e.files)


@needs_shared("molecules")
@needs_shared("lrgb")
@pytest.mark.parametrize("name", FILE_BACKED)
def test_the_pins_are_the_shared_files(name):
    for f in CATALOG[name].files:
        data = (SHARED / f.path).read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (f.size, f.sha256), f.path
    if name == "peptides-func":  # and LRGB's own MD5s
        for f in CATALOG[name].files:
            lrgb.check_md5(SHARED / f.path, lrgb.MD5[f.path.rsplit("/", 1)[1]])


@needs_shared("molecules")
@needs_shared("lrgb")
def test_fetch_from_a_local_mirror_and_a_tampered_copy_is_refused(tmp_path, capsys):
    mirror = tmp_path / "mirror"
    for name in ("tox21", "peptides-func", "ESOL"):
        for f in CATALOG[name].files:
            (mirror / f.path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(SHARED / f.path, mirror / f.path)
    data = tmp_path / "data"
    url = f"file://{mirror}"
    fetched = fetch_dataset("peptides-func", data, Fetcher(base_url=url, backoff=0))
    assert sorted(p.name for p in fetched) == sorted([lrgb.CSV, lrgb.SPLIT])
    assert main(["data", "fetch", "tox21", "--data-dir", str(data), "--base-url", url]) == 0
    assert "tox21: 1 file(s) fetched, all verified" in capsys.readouterr().out
    assert main(["data", "info", "tox21", "--data-dir", str(data)]) == 0
    assert "measured:  7831 rows" in capsys.readouterr().out
    # one changed byte in the mirror's ESOL: refused naming the file, nothing left in the data folder
    esol = mirror / CATALOG["ESOL"].files[0].path
    text = esol.read_bytes()
    esol.write_bytes(text[:-2] + (b"0" if text[-2:-1] != b"0" else b"1") + text[-1:])
    with pytest.raises(DataError, match=r"delaney-processed.csv.*sha256 .* does not match the pinned"):
        fetch_dataset("ESOL", data, Fetcher(base_url=url, attempts=2, backoff=0))
    assert not (data / "molecules" / "esol").exists() or list((data / "molecules" / "esol").iterdir()) == []
    assert main(["data", "fetch", "ESOL", "--data-dir", str(data), "--base-url", url]) == 1
    assert "does not match the pinned" in capsys.readouterr().err
