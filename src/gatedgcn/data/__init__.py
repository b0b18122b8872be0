"""Datasets by name: generators and file readers, each returning a :class:`Dataset`."""

from __future__ import annotations

from typing import Callable

from gatedgcn.data.dataset import Dataset, Task
from gatedgcn.data.mini import build_mini
from gatedgcn.errors import ConfigError

__all__ = ["Dataset", "Task", "DATASETS", "load_dataset"]

# name -> builder(**data config) -> Dataset
DATASETS: dict[str, Callable[..., Dataset]] = {
    "mini": build_mini,
}


def load_dataset(name: str, **options: object) -> Dataset:
    if name not in DATASETS:
        raise ConfigError(f"data.name: unknown dataset {name!r}; known: {', '.join(sorted(DATASETS))}")
    return DATASETS[name](**options)
