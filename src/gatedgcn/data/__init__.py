"""Datasets by name: generators and file readers, each returning a :class:`Dataset`."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from gatedgcn.data.csl import build_csl, build_csl_rp
from gatedgcn.data.dataset import Dataset, Task
from gatedgcn.data.files import build_edgelist, build_jsonl
from gatedgcn.data.lrgb import build_peptides_func
from gatedgcn.data.mini import build_mini
from gatedgcn.data.molecules import build_aqsol, build_esol
from gatedgcn.data.names import MOLECULENET, info_of, require
from gatedgcn.data.planetoid import build_planetoid, has_planetoid
from gatedgcn.data.sbm import build_cluster, build_pattern
from gatedgcn.data.smiles import build_moleculenet, build_smiles
from gatedgcn.data.tsp import build_tsp
from gatedgcn.data.tu import build_tu
from gatedgcn.errors import ConfigError

__all__ = ["Dataset", "Task", "DATASETS", "is_dataset", "load_dataset"]

# name -> builder(**data config) -> Dataset
DATASETS: dict[str, Callable[..., Dataset]] = {
    "mini": build_mini,
    "SBM_PATTERN": build_pattern,  # Benchmarking GNNs, generated and cached
    "SBM_CLUSTER": build_cluster,
    "TSP": build_tsp,
    "CSL": build_csl,
    "CSL_RP": build_csl_rp,
    "AQSOL": build_aqsol,  # data_dir/molecules/aqsoldb
    "ESOL": build_esol,  # data_dir/molecules/esol
    "peptides-func": build_peptides_func,  # data_dir/lrgb/peptides-functional (LRGB)
    **{name: partial(build_tu, name) for name in ("MUTAG", "ENZYMES", "PROTEINS_full", "NCI1")},  # data_dir/TU/NAME
    **{
        name: partial(build_planetoid, name) for name in ("cora", "citeseer", "pubmed")
    },  # data_dir/planetoid/ind.NAME.*
    "smiles": build_smiles,  # the user's CSV of SMILES (data.path)
    **{name: partial(build_moleculenet, name) for name in MOLECULENET},  # data_dir/molecules/moleculenet/NAME.csv
    "edgelist": build_edgelist,  # the user's edge list (data.path) with nodes.csv beside it
    "jsonl": build_jsonl,  # the user's JSON lines of graphs (data.path)
}


def _file_kind(name: str, data_dir: Path | None) -> str | None:
    """``TU`` for a folder ``data_dir/TU/NAME``, ``planetoid`` for files ``data_dir/planetoid/ind.NAME.*``, else None."""
    if data_dir is None or name in DATASETS or not name or "/" in name or name.startswith("."):
        return None
    if (Path(data_dir) / "TU" / name).is_dir():
        return "TU"
    return "planetoid" if has_planetoid(Path(data_dir) / "planetoid", name) else None


def is_dataset(name: str, data_dir: Path | None) -> bool:
    """A registered name, any other folder of the TU collection under ``data_dir/TU``, or any other Planetoid set
    whose files lie in ``data_dir/planetoid``."""
    return name in DATASETS or _file_kind(name, data_dir) is not None


def load_dataset(name: str, **options: Any) -> Dataset:
    """The dataset ``name`` built with ``options`` (the data config); an optional package it needs and that is not
    installed is named first (:func:`gatedgcn.data.names.require`), before any file is read or graph generated."""
    require(info_of(name).needs, f"dataset {name}")
    kind = _file_kind(name, options.get("data_dir"))
    if kind == "TU":
        return build_tu(name, **options)  # any other folder of the TU collection
    if kind == "planetoid":
        return build_planetoid(name, **options)
    if name not in DATASETS:
        raise ConfigError(f"data.name: unknown dataset {name!r}; known: {', '.join(sorted(DATASETS))}")
    return DATASETS[name](**options)
