"""The configuration of a run: data, model and training, as typed dataclasses.

A config is data: it is read from YAML or a dict, every key is checked (unknown key, wrong
type, value out of range -> :class:`ConfigError` naming the key), and the resolved config
is written back to the run directory so that ``--config RUN_DIR/config.yaml`` repeats a run.
The defaults are the lecture's experiment.
"""

from __future__ import annotations

import ast
import dataclasses
import io
import os
import tokenize
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gatedgcn.app.limits import check_limits
from gatedgcn.app.yamlfile import load_yaml, read_yaml_file
from gatedgcn.data import DATASETS, is_dataset
from gatedgcn.errors import ConfigError
from gatedgcn.ops import IMPLS
from gatedgcn.model import LAYERS, READOUTS
from gatedgcn.train.objective import CLASS_WEIGHTS

__all__ = ["DataConfig", "ModelConfig", "TrainConfig", "Config", "DATA_DIR_ENV", "key_docs"]

DATA_DIR_ENV = "GATEDGCN_DATA_DIR"
CACHE_DIR_ENV = "GATEDGCN_CACHE_DIR"


@dataclass
class DataConfig:
    name: str = "mini"  # dataset name
    data_dir: str | None = None  # folder of real datasets (default: $GATEDGCN_DATA_DIR, else ../shared/data beside the repository)
    seed: int = 0  # seed of generated data (independent of the training seed)
    num_train: int = 350  # generated training graphs
    num_val: int = 100  # generated validation graphs
    num_test: int = 100  # generated test graphs
    min_nodes: int = 10  # node counts drawn from [min_nodes, max_nodes)
    max_nodes: int = 20  # exclusive upper bound of the node counts
    cache_dir: str | None = None  # cache of generated datasets (default: $GATEDGCN_CACHE_DIR, else ~/.cache/gatedgcn)
    workers: int = 1  # processes that generate a dataset
    pe: str = "none"  # positional encoding added to the node embedding: none, laplacian or random_walk
    pe_dim: int = 8  # k: Laplacian eigenvectors, or random-walk steps
    folds: int = 0  # k-fold cross-validation of a labelled collection (0: one fixed 8/1/1 split)
    fold: int = 0  # which fold is the test part, in [0, folds)
    path: str | None = None  # the user's file for the edgelist and jsonl datasets

    def check(self) -> None:
        if not is_dataset(self.name, self.resolved_data_dir()):
            raise ConfigError(f"data.name: unknown dataset {self.name!r}; known: {', '.join(sorted(DATASETS))}")
        for key in ("num_train", "num_val", "num_test", "min_nodes", "max_nodes"):
            _at_least(f"data.{key}", getattr(self, key), 0)
        _at_least("data.num_train", self.num_train, 1)
        if self.max_nodes <= self.min_nodes:
            raise ConfigError(f"data.max_nodes must be > data.min_nodes (node counts are drawn from [min_nodes, max_nodes)), got {self.min_nodes} and {self.max_nodes}")
        _at_least("data.workers", self.workers, 1)
        _at_least("data.pe_dim", self.pe_dim, 1)
        _one_of("data.pe", self.pe, ("none", "laplacian", "random_walk"))
        _at_least("data.folds", self.folds, 0)
        if self.folds in (1, 2):
            raise ConfigError(f"data.folds must be 0 (fixed split) or >= 3 (train, val and test folds), got {self.folds}")
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


@dataclass
class ModelConfig:
    layer: str = "gated_gcn"  # one of gated_gcn, gcn, graph_attention, attention, mlp (node-wise, the graph unread)
    layers: int = 4  # number of layers L
    hidden: int = 100  # width of node (and edge) states
    readout: str = "sum"  # graph readout: mean, sum or max (sum sees the graph size)
    batch_norm: bool = True  # batch norm after each layer
    residual: bool = True  # residual connection h = x + ... around each layer
    dropout: float = 0.0  # dropout on node (and edge) states after each layer
    graph_size_norm: bool = True  # scale states by 1/sqrt(|V|), 1/sqrt(|E|) of their graph before BN
    heads: int = 1  # attention heads
    gcn_norm: str = "mean"  # GCN weights: mean (1/d_i) or symmetric (1/sqrt(d_i d_j))
    edge_features: bool = True  # use the dataset's edge features (false: one learned state for every edge)
    impl: str = "fast"  # layer code: fast (fused kernels) or reference (the plain equations; same results)
    input_dropout: float = 0.0  # dropout on the raw float node features before the embedding (training only)
    head_layers: int = 2  # halving hidden layers of the MLP head: hidden -> hidden/2 -> ... (0: one Linear)
    self_loops: bool = False  # add an edge i -> i for every node (gcn and graph_attention layers; Kipf & Welling's A + I)
    gcn_self_weight: bool = True  # GCN layer with its separate self weight U x (false: h = f(V X a d^-1) only, as Kipf & Welling)
    attention_activation: str = "relu"  # f of the graph-attention block h = x + f(BN(attention)): relu, or elu (the benchmark's GAT block)

    def check(self) -> None:
        _one_of("model.layer", self.layer, LAYERS)
        _one_of("model.readout", self.readout, tuple(READOUTS))
        _one_of("model.gcn_norm", self.gcn_norm, ("mean", "symmetric"))
        _one_of("model.impl", self.impl, IMPLS)
        _at_least("model.layers", self.layers, 1)
        _at_least("model.hidden", self.hidden, 4)
        _at_least("model.heads", self.heads, 1)
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.dropout must be in [0, 1), got {self.dropout}")
        if not 0.0 <= self.input_dropout < 1.0:
            raise ConfigError(f"model.input_dropout must be in [0, 1), got {self.input_dropout}")
        _at_least("model.head_layers", self.head_layers, 0)
        if self.self_loops and self.layer not in ("gcn", "graph_attention"):
            raise ConfigError(f"model.self_loops applies to the gcn and graph_attention layers, not to model.layer={self.layer!r}")
        if not self.gcn_self_weight and self.layer != "gcn":
            raise ConfigError(f"model.gcn_self_weight=false applies to the gcn layer, not to model.layer={self.layer!r}")
        _one_of("model.attention_activation", self.attention_activation, ("relu", "elu"))
        if self.attention_activation != "relu" and self.layer != "graph_attention":
            raise ConfigError(f"model.attention_activation={self.attention_activation!r} applies to the graph_attention layer, not to model.layer={self.layer!r}")


@dataclass
class TrainConfig:
    epochs: int = 40  # maximal number of epochs
    batch_size: int = 50  # graphs per batch
    lr: float = 1e-4  # initial Adam learning rate
    weight_decay: float = 0.0  # Adam weight decay (L2)
    lr_factor: float = 0.5  # ReduceLROnPlateau factor
    lr_patience: int = 10  # epochs without a better validation loss before the lr is reduced
    min_lr: float = 1e-6  # stop when the lr falls below this
    seed: int = 41  # seed of weights, shuffling and dropout
    time_budget_s: float = 0.0  # stop after the epoch that passes this many seconds of training (0: no limit)
    device: str = "cpu"  # cpu, cuda or cuda:k
    checkpoint_minutes: float = 10.0  # a checkpoint after every epoch and, within one, every this many minutes (0: every step)
    keep_checkpoints: int = 2  # K: the last K checkpoints are kept (and the best)
    max_nonfinite_steps: int = 5  # stop after this many steps in a row with a non-finite loss or gradient (each is skipped)
    dtype: str = "float32"  # float32 or float64: of the weights and the float features
    fanout: str = ""  # one big graph: neighbour-sampled mini-batches of batch_size seed nodes, senders per layer, e.g. "15,10" ("": whole graph)
    inference_chunk: int = 0  # evaluate a node task layer by layer, this many receivers at a time (0: whole graph; with fanout: 16384)
    sync_batch_norm: bool = False  # with several processes: batch statistics of the rows of all of them (SyncBatchNorm)
    class_weights: str = "auto"  # cross-entropy class weights: auto (the dataset's rule: batch for SBM, none otherwise), batch ((R - R_c)/R of each batch), none

    def check(self) -> None:
        _at_least("train.epochs", self.epochs, 1)
        _at_least("train.keep_checkpoints", self.keep_checkpoints, 1)
        _at_least("train.max_nonfinite_steps", self.max_nonfinite_steps, 1)
        _one_of("train.dtype", self.dtype, ("float32", "float64"))
        _one_of("train.class_weights", self.class_weights, CLASS_WEIGHTS)
        if self.fanout and not all(f.strip().isdigit() and int(f) >= 1 for f in self.fanout.split(",")):
            raise ConfigError(f"train.fanout must be positive integers separated by commas (one per layer, e.g. 15,10), got {self.fanout!r}")
        if not self.checkpoint_minutes >= 0:
            raise ConfigError(f"train.checkpoint_minutes must be >= 0 (0: after every step), got {self.checkpoint_minutes}")
        _at_least("train.batch_size", self.batch_size, 1)
        _at_least("train.inference_chunk", self.inference_chunk, 0)
        _at_least("train.lr_patience", self.lr_patience, 0)
        if not self.lr > 0:
            raise ConfigError(f"train.lr must be > 0, got {self.lr}")
        if not 0 < self.lr_factor < 1:
            raise ConfigError(f"train.lr_factor must be in (0, 1), got {self.lr_factor}")
        if self.weight_decay < 0 or self.min_lr < 0:
            raise ConfigError("train.weight_decay and train.min_lr must be >= 0")
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            raise ConfigError(f"train.device must be 'cpu' or 'cuda[:k]', got {self.device!r}")


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def check(self) -> "Config":
        self.data.check()
        self.model.check()
        self.train.check()
        check_limits(self.to_dict())
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: Any, *, where: str = "config") -> "Config":
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: expected a mapping of sections (data, model, train), got {type(raw).__name__}")
        sections = {f.name: f.type for f in dataclasses.fields(cls)}
        unknown = set(raw) - set(sections)
        if unknown:
            raise ConfigError(f"{where}: unknown section {sorted(unknown)[0]!r}; sections are {', '.join(sections)}")
        hints = typing.get_type_hints(cls)
        built = {name: _section(hints[name], {} if raw.get(name) is None else raw[name], f"{where}: {name}") for name in sections}
        return cls(**built).check()

    @classmethod
    def load(cls, path: str | Path) -> "Config":
        return cls.from_dict(read_yaml_file(path), where=str(path))

    def dump(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def describe(self) -> str:
        """The YAML of :meth:`dump` with the meaning of each key as a trailing comment (still loadable)."""
        docs = key_docs()
        lines = []
        for section, values in self.to_dict().items():
            lines.append(f"{section}:")
            rows = [(f"  {yaml.safe_dump({key: value}, default_flow_style=True, width=10**6).strip()[1:-1]}", docs[f"{section}.{key}"]) for key, value in values.items()]
            width = max(len(row) for row, _ in rows)
            lines += [f"{row:<{width}}  # {doc}" for row, doc in rows]
        return "\n".join(lines) + "\n"

    def with_overrides(self, assignments: list[str]) -> "Config":
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


def key_docs() -> dict[str, str]:
    """``section.key`` -> what the key means: the trailing comment of its field in this file.

    Those comments are the one source of truth for ``gatedgcn config show``; a key without
    one gets an empty text (and fails the test that every key is documented).
    """
    source = Path(__file__).read_text()
    comments = {
        tok.start[0]: tok.string.lstrip("#").strip()
        for tok in tokenize.generate_tokens(io.StringIO(source).readline)
        if tok.type == tokenize.COMMENT
    }
    classes = {node.name: node for node in ast.parse(source).body if isinstance(node, ast.ClassDef)}
    docs = {}
    for section, cls in typing.get_type_hints(Config).items():
        for stmt in classes[cls.__name__].body:
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                docs[f"{section}.{stmt.target.id}"] = comments.get(stmt.lineno, "")
    return docs


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


def _at_least(key: str, value: int, low: int) -> None:
    if value < low:
        raise ConfigError(f"{key} must be >= {low}, got {value}")


def _one_of(key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{key} must be one of {', '.join(allowed)}; got {value!r}")
