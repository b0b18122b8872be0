"""Whether a stored run and what config and dataset give now still fit: the model spec of a run directory.

A run directory (:class:`gatedgcn.train.run.RunDir`) stores the :class:`~gatedgcn.spec.ModelSpec` it was
trained with (summary.json's ``spec``, and every checkpoint).  Eval, predict and resume rebuild the model from
it; the spec that config and dataset give now must fit it, field by field, or the run is refused naming the field.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from gatedgcn.data import Dataset
from gatedgcn.errors import RunDirError
from gatedgcn.spec import ModelSpec, renamed

__all__ = ["DATA_FIELDS", "CODE_FIELDS", "STORED_FIELDS", "spec_from_fields", "spec_misfits", "fitted_spec"]

DATA_FIELDS = ("level", "out_dim", "in_dim", "node_vocab", "edge_in_dim", "edge_vocab", "pe_dim")  # a dataset fixes
CODE_FIELDS = ("impl",)  # fields that choose code, not weights or equations: the config's value is used
STORED_FIELDS = ("last_edge_update",)  # fields a stored run keeps as it was built (older runs: the field's default)


def spec_from_fields(fields: dict[str, Any]) -> ModelSpec:
    """The :class:`ModelSpec` stored as its fields (a field added to ModelSpec since takes its default; a renamed one,
    :data:`~gatedgcn.spec.RENAMED`, is read under its new name)."""
    fields = renamed(fields)
    unknown = sorted(set(fields) - {f.name for f in dataclasses.fields(ModelSpec)})
    if unknown:
        raise RunDirError(f"the stored model spec has the field {unknown[0]!r}, which ModelSpec does not know")
    try:
        return ModelSpec(**fields)
    except (TypeError, ValueError) as err:
        raise RunDirError(f"the stored model spec is not valid: {err}") from None


def spec_misfits(stored: ModelSpec, derived: ModelSpec, data: Dataset) -> list[str]:
    """``field: why`` for each field in which the spec that config and dataset give now (``derived``) does not fit
    ``stored``: a vocabulary may have grown as long as every category id in the data has its row; :data:`CODE_FIELDS`
    (``impl``: the same equations either way) follow the config; :data:`STORED_FIELDS` stay as stored; every other
    field must be equal (an edited config is
    refused, not silently overridden)."""
    misfits = []
    for name in (f.name for f in dataclasses.fields(ModelSpec)):
        want, got = getattr(stored, name), getattr(derived, name)
        if want == got or name in CODE_FIELDS or name in STORED_FIELDS:
            continue
        if name in ("node_vocab", "edge_vocab") and want > 0 and got > 0:
            top = _top_category(data, name)
            if top < want:
                continue
            misfits.append(f"{name}: the model has {want} categories, dataset {data.name} has category {top}")
        else:
            source = f"for dataset {data.name}" if name in DATA_FIELDS else "from the config"
            misfits.append(f"{name}: {want} in the stored model spec, {got} {source}")
    return misfits


def fitted_spec(stored: ModelSpec | None, derived: ModelSpec, data: Dataset) -> ModelSpec:
    """The spec to build: ``derived`` for a new run (``stored`` None), else ``stored`` with the config's
    :data:`CODE_FIELDS`; a ``derived`` that does not fit ``stored`` is refused (:class:`RunDirError` naming the field)."""
    if stored is None:
        return derived
    misfits = spec_misfits(stored, derived, data)
    if misfits:
        raise RunDirError("dataset and config do not fit the stored model spec: " + "; ".join(misfits))
    return dataclasses.replace(stored, **{name: getattr(derived, name) for name in CODE_FIELDS})


def _top_category(data: Dataset, name: str) -> int:
    """The largest node (``node_vocab``) or edge (``edge_vocab``) category id in the dataset's graphs, -1 if none."""
    ids = [
        t
        for split in data.splits.values()
        for g in split
        if (t := g.x if name == "node_vocab" else g.edge_attr) is not None and t.numel()
    ]
    return max((int(t.max()) for t in ids), default=-1)
