"""Every name ``--dataset`` accepts, where its files are looked for, and which optional package it needs.

    generated      mini, SBM_PATTERN, SBM_CLUSTER, TSP (needs elkai), CSL, CSL_RP: made from a seed, cached
    molecules      AQSOL, ESOL, the MoleculeNet files (hiv, bace, bbbp, tox21, clintox, sider): DATA/molecules/...
                   smiles: the user's CSV (--data-path FILE); all need RDKit (gatedgcn[chem])
    Planetoid      cora, citeseer, pubmed, and any NAME with DATA/planetoid/ind.NAME.{x,y,tx,ty,allx,ally,graph,test.index}
    TU             MUTAG, ENZYMES, PROTEINS_full, NCI1, and any folder DATA/TU/NAME holding NAME_A.txt, ...
    LRGB           peptides-func: DATA/lrgb/peptides-functional/ (the CSV of SMILES and the split pickle; needs RDKit)
    user files     edgelist (--data-path edges.csv, nodes.csv beside it), jsonl (--data-path graphs.jsonl)

``DATA`` is the data folder: ``--data-dir``, else ``$GATEDGCN_DATA_DIR``, else ``../shared/data`` beside the
repository.  :func:`require` names a missing optional package before any work starts.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from gatedgcn.errors import ConfigError

__all__ = ["NameInfo", "MOLECULENET", "EXTRAS", "info_of", "accepted_names", "require"]

MOLECULENET = ("hiv", "bace", "bbbp", "tox21", "clintox", "sider")  # DATA/molecules/moleculenet/NAME.csv
GENERATED = ("mini", "SBM_PATTERN", "SBM_CLUSTER", "TSP", "CSL", "CSL_RP")
MOLECULE_FILES = {"AQSOL": "molecules/aqsoldb/data_curated.csv", "ESOL": "molecules/esol/delaney-processed.csv"}
USER_FILES = ("edgelist", "jsonl", "smiles")
# package import name -> (what needs it, the pip extra)
EXTRAS = {"rdkit": ("RDKit", "chem"), "elkai": ("the LKH solver elkai", "tsp")}


@dataclass(frozen=True)
class NameInfo:
    """``kind``: generated | molecules | Planetoid | TU | LRGB | user file; ``where``: its files under the data folder;
    ``needs``: the optional package (import name) it cannot be built without."""

    name: str
    kind: str
    where: str
    needs: str | None = None


def info_of(name: str) -> NameInfo:
    """What the registered or file-found ``name`` is (no file is read)."""
    if name in GENERATED:
        return NameInfo(name, "generated", "-", "elkai" if name == "TSP" else None)
    if name in MOLECULE_FILES:
        return NameInfo(name, "molecules", MOLECULE_FILES[name], "rdkit")
    if name in MOLECULENET:
        return NameInfo(name, "molecules", f"molecules/moleculenet/{name}.csv", "rdkit")
    if name == "smiles":
        return NameInfo(name, "user file", "--data-path FILE.csv (.csv.gz)", "rdkit")
    if name in USER_FILES:
        return NameInfo(name, "user file", f"--data-path FILE.{'jsonl' if name == 'jsonl' else 'csv'}")
    if name.lower().startswith("peptides") or name.lower().startswith("lrgb"):
        return NameInfo(name, "LRGB", "lrgb/peptides-functional/", "rdkit")
    if name in ("cora", "citeseer", "pubmed"):
        return NameInfo(name, "Planetoid", f"planetoid/ind.{name}.*")
    return NameInfo(name, "TU", f"TU/{name}/")


def _found(data_dir: Path | None) -> list[NameInfo]:
    """The user's TU folders and Planetoid sets found in the data folder."""
    if data_dir is None:
        return []
    found = []
    tu = Path(data_dir) / "TU"
    if tu.is_dir():
        found += [NameInfo(p.name, "TU", f"TU/{p.name}/") for p in sorted(tu.iterdir()) if p.is_dir()]
    planetoid = Path(data_dir) / "planetoid"
    if planetoid.is_dir():
        names = sorted({p.name.split(".")[1] for p in planetoid.glob("ind.*.graph")})
        found += [NameInfo(n, "Planetoid", f"planetoid/ind.{n}.*") for n in names]
    return found


def accepted_names(registered: list[str], data_dir: Path | None) -> list[NameInfo]:
    """Every name ``--dataset`` accepts: the registered ones, then folders and files found in ``data_dir``."""
    infos = {name: info_of(name) for name in registered}
    for extra in _found(data_dir):
        infos.setdefault(extra.name, extra)
    return list(infos.values())


def present(info: NameInfo, data_dir: Path | None) -> str:
    """``here`` / ``not here`` for a file-backed name, ``generated`` or ``your file`` otherwise."""
    if info.kind == "generated":
        return "generated"
    if info.kind == "user file":
        return "your file"
    if data_dir is None:
        return "no data folder"
    where = Path(data_dir) / info.where.split("*")[0].rstrip("/.")
    if info.kind == "Planetoid":
        return "here" if (Path(data_dir) / "planetoid" / f"ind.{info.name}.graph").is_file() else "not here"
    return "here" if where.exists() else "not here"


def require(package: str | None, what: str) -> None:
    """:class:`ConfigError` naming ``package`` and the extra that installs it, when it cannot be imported."""
    if package is None or importlib.util.find_spec(package) is not None:
        return
    needs, extra = EXTRAS[package]
    raise ConfigError(f"{what} needs {needs}: pip install 'gatedgcn[{extra}]'")
