"""Checkpoints: everything a run needs to continue exactly, written so that a crash never costs the last one.

    RUN_DIR/checkpoints/epoch-0003-step-000012.ckpt   the last K positions (epoch being run, batches of it done)
    RUN_DIR/checkpoints/best.ckpt                      the state after the best epoch so far

A file is one header line ``gatedgcn-checkpoint 1 <sha256 of the payload>`` followed by the payload of
``torch.save``.  It is written atomically (temporary file in the same folder, fsync, rename) and read
back only after the hash matches, with ``torch.load(weights_only=True)``: no code runs, and a truncated
or corrupted file is recognised and skipped, never half-used.  The payload holds the trainer state, the
config and the model's spec (both as JSON text), so that a resume rebuilds the model it continues.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import re
import stat
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from gatedgcn.errors import CheckpointError
from gatedgcn.spec import ModelSpec
from gatedgcn.train.run import atomic_write
from gatedgcn.train.trainer import Trainer

__all__ = ["Checkpointer", "CheckpointWarning", "encode", "decode", "read_checkpoint", "config_mismatch", "misfit"]

MAGIC = b"gatedgcn-checkpoint 1 "
BEST = "best.ckpt"
_NAME = re.compile(r"epoch-(\d+)-step-(\d+)\.ckpt")


class CheckpointWarning(UserWarning):
    """A checkpoint was skipped (corrupt or truncated) and an older one is used."""


def encode(state: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    return MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload


def decode(data: bytes, where: str) -> dict[str, Any]:
    """The state in ``data``; :class:`CheckpointError` naming what is wrong with it otherwise."""
    header, newline, payload = data.partition(b"\n")
    if not header.startswith(MAGIC) or not newline:
        raise CheckpointError(f"{where} is not a gatedgcn checkpoint (no '{MAGIC.decode().strip()}' header)")
    if hashlib.sha256(payload).hexdigest().encode() != header[len(MAGIC) :]:
        raise CheckpointError(
            f"{where} is corrupt or truncated: its content does not match its sha256 ({len(data)} bytes)"
        )
    try:
        state = torch.load(io.BytesIO(payload), weights_only=True, map_location="cpu")
    except Exception as err:  # the unpickler's own errors (pickle.UnpicklingError, RuntimeError, ...)
        raise CheckpointError(f"{where} cannot be loaded safely: {err}") from None
    if not isinstance(state, dict) or not {"config", "trainer"} <= set(state):
        raise CheckpointError(f"{where} holds no trainer state and config")
    return state


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise CheckpointError(f"checkpoint {path} is not a plain file")
        data = path.read_bytes()
    except CheckpointError:
        raise
    except OSError as err:
        raise CheckpointError(f"cannot read checkpoint {path}: {err.strerror}") from None
    return decode(data, str(path))


def _flat(tree: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(tree, dict):
        return {prefix: tree}
    return {k: v for key, sub in tree.items() for k, v in _flat(sub, f"{prefix}.{key}" if prefix else key).items()}


LENGTH = "train.epochs:"  # the config key a resume may change (to train a finished run on)


def config_mismatch(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """``key: saved -> current`` for every config key whose values differ."""
    a, b = _flat(saved), _flat(current)
    return [
        f"{k}: {a.get(k, '<absent>')!r} in the checkpoint, {b.get(k, '<absent>')!r} now"
        for k in sorted(set(a) | set(b))
        if a.get(k) != b.get(k)
    ]


class Checkpointer:
    """The trainer's ``save`` hook: writes after every epoch, after a step when ``every_minutes`` have
    passed since the last write (0: after every step), and on a stop; keeps the last ``keep`` and the best."""

    def __init__(
        self,
        folder: str | Path,
        *,
        config: dict[str, Any],
        keep: int = 2,
        every_minutes: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        spec: dict[str, Any] | None = None,
    ) -> None:
        """``spec``: the fields of the model's spec, written with every checkpoint (``None``: not written)."""
        self.folder = Path(folder)
        self.config = config
        self.spec = spec
        self.keep = keep
        self.every_seconds = 60.0 * every_minutes
        self.clock = clock
        self.last = clock()

    def positions(self) -> list[tuple[tuple[int, int], Path]]:
        """The position checkpoints, oldest first."""
        found = [(m, p) for p in self.folder.glob("epoch-*-step-*.ckpt") if (m := _NAME.fullmatch(p.name))]
        return sorted(((int(m[1]), int(m[2])), p) for m, p in found)

    def __call__(self, trainer: Trainer, reason: str) -> None:
        if reason == "step" and self.clock() - self.last < self.every_seconds:
            return
        pos = trainer.position
        meta = {"config": json.dumps(self.config, sort_keys=True)} | (
            {} if self.spec is None else {"spec": json.dumps(self.spec)}
        )
        data = encode(meta | {"trainer": trainer.state_dict()})
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise CheckpointError(f"cannot make the checkpoint folder {self.folder}: {err.strerror or err}") from None
        atomic_write(self.folder / f"epoch-{pos.epoch:04d}-step-{pos.step:06d}.ckpt", data)
        if reason == "epoch" and pos.best_epoch == pos.epoch - 1:
            atomic_write(self.folder / BEST, data)
        for _, old in self.positions()[: -self.keep]:
            old.unlink(missing_ok=True)
        self.last = self.clock()

    def latest(self) -> dict[str, Any] | None:
        """The trainer state of the newest valid checkpoint (corrupt ones skipped with a warning), or ``None``.

        A checkpoint of another configuration is refused with the keys that differ."""
        state = self.latest_checkpoint()
        return None if state is None else state["trainer"]

    def latest_checkpoint(self, fits: Callable[[dict[str, Any]], str | None] | None = None) -> dict[str, Any] | None:
        """The newest valid checkpoint as :meth:`latest` finds it: ``trainer`` (its state) and ``spec`` (the model's
        spec fields; ``None`` in a checkpoint written before specs were stored), or ``None``.

        A checkpoint that is corrupt, or whose checksum is right but whose content is not a checkpoint's (no
        trainer state, a spec ModelSpec does not know, or, with ``fits``, a state ``fits`` gives a reason to
        refuse) is skipped with a :class:`CheckpointWarning`, as a truncated one is."""
        if self.folder.exists() and not self.folder.is_dir():
            raise CheckpointError(f"{self.folder} is not a folder: checkpoints cannot be read or written there")
        for stale in self.folder.glob(".*.tmp"):  # left by a write that was killed before its rename
            stale.unlink(missing_ok=True)
        for _, path in reversed(self.positions()):
            try:
                state = _parts(read_checkpoint(path), str(path))
                if fits is not None and (why := fits(state)):
                    raise CheckpointError(f"{path} does not fit this run: {why}")
            except CheckpointError as err:
                warnings.warn(f"skipping checkpoint: {err}", CheckpointWarning, stacklevel=2)
                continue
            # train.epochs is when to stop, not part of the state: a finished run can be trained on (--epochs)
            diff = [d for d in config_mismatch(state["config"], self.config) if not d.startswith(LENGTH)]
            if diff:
                raise CheckpointError(f"checkpoint {path} belongs to another configuration: " + "; ".join(diff[:5]))
            return {"trainer": state["trainer"], "spec": state["spec"]}
        return None


def _parts(state: dict[str, Any], where: str) -> dict[str, Any]:
    """The config and spec of a decoded checkpoint as mappings, the spec's fields checked against ModelSpec."""
    try:
        config = json.loads(state["config"])
        spec = json.loads(state["spec"]) if "spec" in state else None
    except (TypeError, ValueError, RecursionError):
        raise CheckpointError(f"{where}: its config or model spec is not JSON text") from None
    if not isinstance(config, dict) or not isinstance(state["trainer"], dict):
        raise CheckpointError(f"{where}: its config or trainer state is not a mapping")
    if spec is not None:
        known = {f.name for f in dataclasses.fields(ModelSpec)}
        if not isinstance(spec, dict) or not set(spec) <= known:
            raise CheckpointError(f"{where}: its model spec has fields ModelSpec does not know")
        try:
            ModelSpec(**spec)
        except (TypeError, ValueError) as err:
            raise CheckpointError(f"{where}: its model spec is not valid ({err})") from None
    return {"config": config, "spec": spec, "trainer": state["trainer"]}


def _kind(value: Any) -> str:
    return "tensor" if isinstance(value, torch.Tensor) else type(value).__name__


def _tree_misfit(template: Any, value: Any, where: str) -> str | None:
    """Why ``value`` does not have the structure of ``template``: the same keys of every mapping, the same
    length of every sequence, tensors of the same dtype and shape, numbers where numbers are (``None`` in
    the template: any value)."""
    if template is None:
        return None
    if isinstance(template, torch.Tensor):
        if not isinstance(value, torch.Tensor) or value.dtype != template.dtype or value.shape != template.shape:
            got = f"{value.dtype} {list(value.shape)}" if isinstance(value, torch.Tensor) else _kind(value)
            return f"{where} is {got}, the trainer has {template.dtype} {list(template.shape)}"
        return None
    if isinstance(template, dict):
        if not isinstance(value, dict):
            return f"{where} is a {_kind(value)}, not a mapping"
        missing, unknown = sorted(map(str, set(template) - set(value))), sorted(map(str, set(value) - set(template)))
        if missing or unknown:
            return f"{where} has no {missing[0]!r}" if missing else f"{where} has the unknown field {unknown[0]!r}"
        return next((m for k in template if (m := _tree_misfit(template[k], value[k], f"{where}.{k}"))), None)
    if isinstance(template, (list, tuple)):
        if not isinstance(value, (list, tuple)) or len(value) != len(template):
            return f"{where} is not a sequence of {len(template)}"
        return next((m for k, t in enumerate(template) if (m := _tree_misfit(t, value[k], f"{where}[{k}]"))), None)
    numbers = (int, float) if isinstance(template, float) else (type(template),)
    if not isinstance(value, numbers) or (isinstance(value, bool) and not isinstance(template, bool)):
        return f"{where} is a {_kind(value)}, the trainer has a {_kind(template)}"
    return None


def _position_misfit(template: dict[str, Any], position: Any) -> str | None:
    """The position: the template's fields; the lists of a running epoch and the history may have any length."""
    if not isinstance(position, dict):
        return f"trainer.position is a {_kind(position)}, not a mapping"
    loose = ("history", "outs", "ys", "rng")
    found = _tree_misfit(
        {k: v for k, v in template.items() if k not in loose},
        {k: v for k, v in position.items() if k not in loose},
        "trainer.position",
    ) or _rng_misfit(template.get("rng"), position.get("rng"))
    if found or not {"history", "outs", "ys"} <= set(position):
        return found or "trainer.position has no 'history', 'outs' or 'ys'"
    if not all(isinstance(t, torch.Tensor) for key in ("outs", "ys") for t in _list(position[key])):
        return "trainer.position.outs / ys are not lists of tensors"
    if not all(isinstance(r, dict) and type(r.get("epoch")) is int for r in _list(position["history"])):
        return "trainer.position.history is not a list of epoch records"
    return None


def _rng_misfit(template: Any, rng: Any) -> str | None:
    """The RNG states: one process's (``cuda`` only where CUDA was in use), or one per process (``ranks``)."""
    if template is None or rng is None:
        return None
    if isinstance(rng, dict) and "ranks" in rng:
        ranks = rng["ranks"]
        if not isinstance(ranks, list) or not ranks:
            return "trainer.position.rng.ranks is not a list of RNG states"
        return next((m for r in ranks if (m := _rng_misfit(template, r))), None)
    if not isinstance(rng, dict):
        return f"trainer.position.rng is a {_kind(rng)}, not a mapping"
    cpu = {k: v for k, v in template.items() if k != "cuda"}
    return _tree_misfit(cpu, {k: v for k, v in rng.items() if k != "cuda"}, "trainer.position.rng")


def _list(value: Any) -> list:
    return value if isinstance(value, list) else [None]


def misfit(template: dict[str, Any], state: Any, param_shapes: list[torch.Size]) -> str | None:
    """Why the trainer state ``state`` (of a checkpoint) cannot be loaded into the trainer whose own state is
    ``template`` and whose optimizer holds parameters of ``param_shapes`` (``None``: it fits)."""
    if not isinstance(state, dict) or set(state) != set(template):
        keys = sorted(set(template) - set(state)) if isinstance(state, dict) else []
        return f"trainer state has no {keys[0]!r}" if keys else "trainer state does not have the trainer's fields"
    for part in ("model", "scheduler"):
        if found := _tree_misfit(template[part], state[part], f"trainer.{part}"):
            return found
    optimizer = state["optimizer"]
    if found := _tree_misfit(
        template["optimizer"]["param_groups"], _get(optimizer, "param_groups"), "trainer.optimizer.param_groups"
    ):
        return found
    moments = _get(optimizer, "state")
    if not isinstance(moments, dict):
        return "trainer.optimizer.state is not a mapping"
    for k, values in moments.items():
        if not (isinstance(k, int) and 0 <= k < len(param_shapes) and isinstance(values, dict)):
            return f"trainer.optimizer.state has an entry {k!r} for no parameter"
        for name, t in values.items():
            if not isinstance(t, torch.Tensor) or (t.dim() and t.shape != param_shapes[k]):
                return f"trainer.optimizer.state[{k}].{name} does not match parameter {k} {list(param_shapes[k])}"
    return _position_misfit(template["position"], state["position"])


def _get(mapping: Any, key: str) -> Any:
    return mapping.get(key) if isinstance(mapping, dict) else None
