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
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gatedgcn.app.data_config import DATA_DIR_ENV, DataConfig
from gatedgcn.app.limits import check_limits
from gatedgcn.app.train_config import TrainConfig
from gatedgcn.app.yamlfile import load_yaml, read_yaml_file
from gatedgcn.errors import ConfigError
from gatedgcn.options import help_of, option
from gatedgcn.spec import ModelOptions, renamed

__all__ = ["DataConfig", "ModelConfig", "TrainConfig", "Config", "DATA_DIR_ENV", "key_help"]


def _lecture_default(name: str, value: Any) -> Any:
    """The field ``name`` of :class:`ModelOptions` (its meaning and range) with the lecture's default ``value``."""
    return field(default=value, metadata=ModelOptions.__dataclass_fields__[name].metadata)


@dataclass(frozen=True)
class ModelConfig(ModelOptions):
    """The model section: every option of :class:`~gatedgcn.spec.ModelOptions` (checked as it is built),
    whether the dataset's edge features are read, and the published parameter count a preset is held against.
    Two defaults are the lecture's experiment's, not the plain network's of ModelSpec: a sum readout (it sees the
    graph size) and graph-size normalisation."""

    readout: str = _lecture_default("readout", "sum")
    graph_size_norm: bool = _lecture_default("graph_size_norm", True)
    edge_features: bool = option(True, "use the dataset's edge features (false: one learned state for every edge)")
    published_parameters: int = option(
        0, "the parameter count the source of a preset's row reports: train prints ours beside it (0: none)", low=0
    )

    def check(self) -> None:
        """Nothing left to check: the options were checked when the section was built."""


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
