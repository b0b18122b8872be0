"""The configuration of a run: data, model and training, as typed dataclasses.

A config is data: it is read from YAML or a dict, every key is checked (unknown key, wrong
type, value out of range -> :class:`ConfigError` naming the key), and the resolved config
is written back to the run directory so that ``--config RUN_DIR/config.yaml`` repeats a run.
The defaults are the lecture's experiment.

Every key is a field made with :func:`gatedgcn.options.option`: its metadata (meaning, allowed values,
bounds) is what ``gatedgcn config show`` prints, what the checks test and what the CLI's flags say.
The model section is :class:`gatedgcn.spec.ModelOptions` itself (plus how the dataset's edge features
are used): a model option added there is a config key, a flag and a line of ``config show`` at once.
Imports no torch: the command line reads this module before any heavy import.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gatedgcn.app.limits import check_limits
from gatedgcn.app.yamlfile import load_yaml, read_yaml_file
from gatedgcn.errors import ConfigError
from gatedgcn.options import check_options, help_of, option
from gatedgcn.spec import ModelOptions, renamed

__all__ = ["DataConfig", "ModelConfig", "TrainConfig", "Config", "DATA_DIR_ENV", "key_help"]

DATA_DIR_ENV = "GATEDGCN_DATA_DIR"
CACHE_DIR_ENV = "GATEDGCN_CACHE_DIR"
PE_KINDS = ("none", "laplacian", "random_walk")
CLASS_WEIGHTS = ("auto", "batch", "none")  # gatedgcn.train.objective.CLASS_WEIGHTS


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


def _lecture_default(name: str, value: Any) -> Any:
    """The field ``name`` of :class:`ModelOptions` (its meaning and range) with the lecture's default ``value``."""
    return field(default=value, metadata=ModelOptions.__dataclass_fields__[name].metadata)


@dataclass(frozen=True)
class ModelConfig(ModelOptions):
    """The model section: every option of :class:`~gatedgcn.spec.ModelOptions` (checked as it is built), and
    whether the dataset's edge features are read.  Two defaults are the lecture's experiment's, not the plain
    network's of ModelSpec: a sum readout (it sees the graph size) and graph-size normalisation."""

    readout: str = _lecture_default("readout", "sum")
    graph_size_norm: bool = _lecture_default("graph_size_norm", True)
    edge_features: bool = option(True, "use the dataset's edge features (false: one learned state for every edge)")

    def check(self) -> None:
        """Nothing left to check: the options were checked when the section was built."""


@dataclass
class TrainConfig:
    epochs: int = option(40, "maximal number of epochs", low=1)
    batch_size: int = option(50, "graphs per batch", low=1)
    lr: float = option(1e-4, "initial Adam learning rate")
    weight_decay: float = option(0.0, "Adam weight decay (L2)")
    lr_factor: float = option(0.5, "ReduceLROnPlateau factor")
    lr_patience: int = option(10, "epochs without a better validation loss before the lr is reduced", low=0)
    min_lr: float = option(1e-6, "stop when the lr falls below this")
    seed: int = option(41, "seed of weights, shuffling and dropout")
    time_budget_s: float = option(0.0, "stop after the epoch that passes this many seconds of training (0: no limit)")
    device: str = option("cpu", "cpu, cuda or cuda:k")
    checkpoint_minutes: float = option(
        10.0, "a checkpoint after every epoch and, within one, every this many minutes (0: every step)"
    )
    keep_checkpoints: int = option(2, "K: the last K checkpoints are kept (and the best)", low=1)
    max_nonfinite_steps: int = option(
        5, "stop after this many steps in a row with a non-finite loss or gradient (each is skipped)", low=1
    )
    dtype: str = option(
        "float32", "float32 or float64: of the weights and the float features", choices=("float32", "float64")
    )
    fanout: str = option(
        "",
        "one big graph: neighbour-sampled mini-batches of batch_size seed nodes, senders per layer, "
        'e.g. "15,10" ("": whole graph)',
    )
    inference_chunk: int = option(
        0,
        "evaluate a node task layer by layer, this many receivers at a time (0: whole graph; with fanout: 16384)",
        low=0,
    )
    sync_batch_norm: bool = option(
        False, "with several processes: batch statistics of the rows of all of them (SyncBatchNorm)"
    )
    optimizer: str = option(
        "adam", "adam (weight_decay as L2 in the gradient) or adamw (decoupled weight decay)", choices=("adam", "adamw")
    )
    schedule: str = option(
        "plateau",
        "lr schedule: plateau (lr_factor after lr_patience epochs; stop below min_lr) or cosine (per epoch, "
        "after warmup_epochs of linear warm-up, to 0 at epochs)",
        choices=("plateau", "cosine"),
    )
    warmup_epochs: int = option(
        0, "with schedule=cosine: epochs of linear warm-up, lr (t+1)/(w+1) of train.lr in epoch t", low=0
    )
    clip_grad_norm: float = option(
        0.0, "scale the gradients to this total 2-norm at most before each update (0: no clipping)", low=0.0
    )
    class_weights: str = option(
        "auto",
        "cross-entropy class weights: auto (the dataset's rule: batch for SBM, none otherwise), "
        "batch ((R - R_c)/R of each batch), none",
        choices=CLASS_WEIGHTS,
    )
    metric: str = option(
        "auto",
        "the metric that picks the best epoch: auto (the dataset's), mae, rmse, accuracy, weighted_accuracy, f1, "
        "rocauc or ap",
        choices=("auto", "mae", "rmse", "accuracy", "weighted_accuracy", "f1", "rocauc", "ap"),
    )
    weight_decay_layers: str = option(
        "all",
        "which weights train.weight_decay applies to: all, or first (the first layer's, as Kipf & Welling)",
        choices=("all", "first"),
    )

    def check(self) -> None:
        check_options(self, "train")
        if self.fanout and not all(f.strip().isdigit() and int(f) >= 1 for f in self.fanout.split(",")):
            raise ConfigError(
                "train.fanout must be positive integers separated by commas (one per layer, e.g. 15,10), "
                f"got {self.fanout!r}"
            )
        if not self.checkpoint_minutes >= 0:
            raise ConfigError(
                f"train.checkpoint_minutes must be >= 0 (0: after every step), got {self.checkpoint_minutes}"
            )
        if not self.lr > 0:
            raise ConfigError(f"train.lr must be > 0, got {self.lr}")
        if not 0 < self.lr_factor < 1:
            raise ConfigError(f"train.lr_factor must be in (0, 1), got {self.lr_factor}")
        if self.weight_decay < 0 or self.min_lr < 0:
            raise ConfigError("train.weight_decay and train.min_lr must be >= 0")
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            raise ConfigError(f"train.device must be 'cpu' or 'cuda[:k]', got {self.device!r}")
        if self.schedule == "cosine" and self.warmup_epochs >= self.epochs:
            raise ConfigError(
                f"train.warmup_epochs must be < train.epochs ({self.epochs}) with schedule=cosine, got {self.warmup_epochs}"
            )


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def check(self) -> Config:
        """Every section's checks; the dataset's name last (it reads the data catalog)."""
        self.model.check()
        self.train.check()
        check_limits(self.to_dict())  # the ranges of the numeric keys (gatedgcn.app.limits)
        self.data.check()
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: Any, *, where: str = "config") -> Config:
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: expected a mapping of sections (data, model, train), got {type(raw).__name__}")
        sections = typing.get_type_hints(cls)
        unknown = set(raw) - set(sections)
        if unknown:
            raise ConfigError(f"{where}: unknown section {sorted(unknown)[0]!r}; sections are {', '.join(sections)}")
        if isinstance(raw.get("model"), dict):  # an older config's option names (spec.RENAMED) still load
            raw = raw | {"model": renamed(raw["model"])}
        built = {
            name: _section(section, {} if raw.get(name) is None else raw[name], f"{where}: {name}")
            for name, section in sections.items()
        }
        return cls(**built).check()

    @classmethod
    def load(cls, path: str | Path) -> Config:
        return cls.from_dict(read_yaml_file(path), where=str(path))

    def dump(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def describe(self) -> str:
        """The YAML of :meth:`dump` with the meaning of each key as a trailing comment (still loadable)."""
        docs = key_help()
        lines = []
        for section, values in self.to_dict().items():
            lines.append(f"{section}:")
            rows = [(f"  {_flow(key, value)}", docs[f"{section}.{key}"]) for key, value in values.items()]
            width = max(len(row) for row, _ in rows)
            lines += [f"{row:<{width}}  # {doc}" for row, doc in rows]
        return "\n".join(lines) + "\n"

    def with_overrides(self, assignments: list[str]) -> Config:
        """Apply ``section.key=value`` assignments (the value parsed as YAML)."""
        raw = self.to_dict()
        for text in assignments:
            key, sep, value = text.partition("=")
            section, dot, name = key.strip().partition(".")
            if not sep or not dot:
                raise ConfigError(f"--set {text!r}: expected section.key=value, e.g. model.hidden=128")
            if section not in raw:
                raise ConfigError(f"--set {text!r}: unknown section {section!r}; sections are {', '.join(raw)}")
            if name not in raw[section]:
                raise ConfigError(f"--set {text!r}: unknown key {key!r}; {section} keys are {', '.join(raw[section])}")
            raw[section][name] = load_yaml(value, f"--set {key.strip()}") if value.strip() else None
        return Config.from_dict(raw, where="--set")


def key_help() -> dict[str, str]:
    """``section.key`` -> what the key means: the ``help`` of its field (:func:`gatedgcn.options.option`)."""
    return {
        f"{section}.{key}": text
        for section, cls in typing.get_type_hints(Config).items()
        for key, text in help_of(cls).items()
    }


def _flow(key: str, value: Any) -> str:
    """``key: value`` as one line of YAML."""
    return yaml.safe_dump({key: value}, default_flow_style=True, width=10**6).strip()[1:-1]


def _section(cls: type, raw: Any, where: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping of keys, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    unknown = set(raw) - set(hints)
    if unknown:
        raise ConfigError(f"{where}.{sorted(unknown)[0]}: unknown key; allowed keys are {', '.join(hints)}")
    return cls(**{key: _coerce(value, hints[key], f"{where}.{key}") for key, value in raw.items()})


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """Check ``value`` against a field type (``int``, ``float``, ``bool``, ``str``, ``X | None``)."""
    args = typing.get_args(hint)
    if type(None) in args:
        if value is None:
            return None
        hint = next(a for a in args if a is not type(None))
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads 1e-4 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
    elif hint is str:
        if isinstance(value, str):
            return value
    name = getattr(hint, "__name__", str(hint))
    raise ConfigError(f"{where}: expected {name}, got {value!r} ({type(value).__name__})")
