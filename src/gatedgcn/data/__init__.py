"""Datasets by name: generators and file readers, each returning a :class:`Dataset`."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Callable

from gatedgcn.data.dataset import Dataset, Task
from gatedgcn.data.csl import build_csl, build_csl_rp
from gatedgcn.data.files import build_edgelist, build_jsonl
from gatedgcn.data.mini import build_mini
from gatedgcn.data.molecules import build_aqsol, build_esol
from gatedgcn.data.sbm import build_cluster, build_pattern
from gatedgcn.data.tsp import build_tsp
from gatedgcn.data.planetoid import build_planetoid
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
    **{name: partial(build_tu, name) for name in ("MUTAG", "ENZYMES", "PROTEINS_full", "NCI1")},  # data_dir/TU/NAME
    "cora": partial(build_planetoid, "cora"),  # data_dir/planetoid/ind.cora.*
    "edgelist": build_edgelist,  # the user's edge list (data.path) with nodes.csv beside it
    "jsonl": build_jsonl,  # the user's JSON lines of graphs (data.path)
}


def is_dataset(name: str, data_dir: Path | None) -> bool:
    """A registered name, or any other folder of the TU collection under ``data_dir/TU``."""
    return name in DATASETS or (data_dir is not None and (Path(data_dir) / "TU" / name).is_dir())


def load_dataset(name: str, **options: object) -> Dataset:
    if name not in DATASETS and is_dataset(name, options.get("data_dir")):
        return build_tu(name, **options)  # any other folder of the TU collection
    if name not in DATASETS:
        raise ConfigError(f"data.name: unknown dataset {name!r}; known: {', '.join(sorted(DATASETS))}")
    return DATASETS[name](**options)
