"""What a run keeps of its dataset so that ``predict`` needs neither the training files nor a rebuilt dataset.

summary.json's ``encoding``: the dataset's task and the keys of ``Dataset.info`` that say how it encoded its
graphs and named its outputs (:data:`ENCODING`): the featurisation (the mini set's degree categories, the TU
label vocabularies, the molecule encoding), class names (a node table's string labels), target names.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from gatedgcn.data import Dataset, Task
from gatedgcn.errors import RunDirError

__all__ = ["ENCODING", "encoding_of", "stored_dataset"]

ENCODING = ("featurisation", "classes", "class_names", "targets")  # the keys of Dataset.info predict reads


def encoding_of(data: Dataset) -> dict[str, Any]:
    """``{"task": {...}, "info": {...}}`` of ``data``, as summary.json stores it."""
    return {
        "task": dataclasses.asdict(data.task),
        "info": {key: data.info[key] for key in ENCODING if key in data.info},
    }


def stored_dataset(summary: dict[str, Any], name: str, where: str) -> Dataset | None:
    """The dataset as the run stored it: its task and encoding, no graphs (None for a run written before
    summary.json kept them)."""
    stored = summary.get("encoding")
    if stored is None:
        return None
    try:
        task = Task(**stored["task"])
        info = dict(stored["info"])
    except (KeyError, TypeError, ValueError) as err:
        raise RunDirError(f"{where}: encoding is not a task and a mapping of dataset info ({err})") from None
    return Dataset(name=name, task=task, splits={}, info=info)
