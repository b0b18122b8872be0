"""What a run keeps of its dataset so that ``predict`` needs neither the training files nor a rebuilt dataset.

summary.json's ``encoding``: the dataset's task and the keys of ``Dataset.info`` that say how it encoded its
graphs and named its outputs (:data:`ENCODING`): the featurisation (the mini set's degree categories, the TU
label vocabularies, the molecule encoding), class names (a node table's string labels), target names.
"""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from typing import Any

from gatedgcn.app.compat import fitted_spec, spec_from_fields
from gatedgcn.app.config import Config
from gatedgcn.app.experiment import model_spec
from gatedgcn.data import Dataset, Task
from gatedgcn.errors import RunDirError
from gatedgcn.model import ModelSpec
from gatedgcn.train.run import RunDir

__all__ = ["ENCODING", "encoding_of", "fitted_stored_spec", "stored_dataset"]

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


def fitted_stored_spec(run: RunDir, config: Config, fields: dict[str, Any], data: Dataset) -> ModelSpec:
    """The stored spec with the config's code fields (``impl``); a config edited since the run (a field of the
    architecture) is refused naming the field, as when the dataset is built (:func:`~gatedgcn.app.compat.fitted_spec`;
    the input sizes are the stored ones: no dataset is read)."""
    stored = spec_from_fields(fields)
    sizes = {name: getattr(stored, name) for name in ("in_dim", "node_vocab", "edge_in_dim", "edge_vocab")}
    data = replace(data, **sizes)
    try:
        return fitted_spec(stored, model_spec(config, data), data)
    except RunDirError as err:
        raise RunDirError(f"{run.path}: {err}") from None
