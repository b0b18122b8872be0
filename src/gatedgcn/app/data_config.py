"""The data section of a run's configuration: which dataset, where its files and cache are, how it is generated,
encoded and split.  Imports no torch (the dataset catalog only once a config is checked in full)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from gatedgcn.errors import ConfigError
from gatedgcn.options import check_options, option

__all__ = ["DataConfig", "DATA_DIR_ENV", "CACHE_DIR_ENV", "PE_KINDS"]

DATA_DIR_ENV = "GATEDGCN_DATA_DIR"
CACHE_DIR_ENV = "GATEDGCN_CACHE_DIR"
PE_KINDS = ("none", "laplacian", "random_walk")


@dataclass
class DataConfig:
    name: str = option("mini", "dataset name")
    data_dir: str | None = option(
        None, "folder of real datasets (default: $GATEDGCN_DATA_DIR, else ../shared/data beside the repository)"
    )
    seed: int = option(0, "seed of generated data (independent of the training seed)")
    num_train: int = option(350, "generated training graphs", low=1)
    num_val: int = option(100, "generated validation graphs", low=0)
    num_test: int = option(100, "generated test graphs", low=0)
    min_nodes: int = option(10, "node counts drawn from [min_nodes, max_nodes)", low=0)
    max_nodes: int = option(20, "exclusive upper bound of the node counts", low=0)
    cache_dir: str | None = option(
        None, "cache of generated datasets (default: $GATEDGCN_CACHE_DIR, else ~/.cache/gatedgcn)"
    )
    workers: int = option(1, "processes that generate a dataset", low=1)
    pe: str = option(
        "none", "positional encoding added to the node embedding: none, laplacian or random_walk", choices=PE_KINDS
    )
    pe_dim: int = option(8, "k: Laplacian eigenvectors, or random-walk steps", low=1)
    folds: int = option(0, "k-fold cross-validation of a labelled collection (0: one fixed 8/1/1 split)", low=0)
    fold: int = option(0, "which fold is the test part, in [0, folds)")
    path: str | None = option(
        None, "the user's file for the edgelist, jsonl and smiles datasets (relative, not found: in the data folder)"
    )
    smiles_column: str | None = option(None, "smiles dataset: the SMILES column (default: the one named smiles)")
    targets: str | None = option(None, "smiles dataset: target columns, comma-separated (default: every numeric one)")
    task: str = option(
        "auto",
        "auto (binary targets: multilabel; numbers: regression; jsonl: the type of y), regression, classification "
        "or multilabel",
        choices=("auto", "regression", "classification", "multilabel"),
    )
    split: str = option(
        "scaffold",
        "smiles dataset: scaffold (Bemis-Murcko, as OGB), random (seeded by data.seed, 80/10/10) or a column naming "
        "each row's split (train / val / test)",
    )
    featurisation: str = option(
        "ogb",
        "smiles dataset: ogb (9 atom, 3 bond categories) or element (atomic number, bond type)",
        choices=("ogb", "element"),
    )

    def check(self) -> None:
        from gatedgcn.data import DATASETS, is_dataset  # the catalog: imported once a config is checked in full

        if not is_dataset(self.name, self.resolved_data_dir()):
            raise ConfigError(f"data.name: unknown dataset {self.name!r}; known: {', '.join(sorted(DATASETS))}")
        check_options(self, "data")
        if self.max_nodes <= self.min_nodes:
            raise ConfigError(
                "data.max_nodes must be > data.min_nodes (node counts are drawn from [min_nodes, max_nodes)), "
                f"got {self.min_nodes} and {self.max_nodes}"
            )
        if self.folds in (1, 2):
            raise ConfigError(
                f"data.folds must be 0 (fixed split) or >= 3 (train, val and test folds), got {self.folds}"
            )
        if self.folds and not 0 <= self.fold < self.folds:
            raise ConfigError(f"data.fold must be in [0, {self.folds}) for data.folds={self.folds}, got {self.fold}")

    def resolved_cache_dir(self) -> Path:
        value = self.cache_dir or os.environ.get(CACHE_DIR_ENV)
        return Path(value).expanduser() if value else Path.home() / ".cache" / "gatedgcn"

    def resolved_data_dir(self) -> Path | None:
        """data.data_dir, else $GATEDGCN_DATA_DIR, else ``../shared/data`` beside the repository if it exists."""
        value = self.data_dir or os.environ.get(DATA_DIR_ENV)
        if value:
            return Path(value)
        beside = Path(__file__).resolve().parents[4] / "shared" / "data"
        return beside if beside.is_dir() else None
