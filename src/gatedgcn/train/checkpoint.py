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

import hashlib
import io
import json
import re
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import torch

from gatedgcn.errors import CheckpointError
from gatedgcn.train.run import atomic_write
from gatedgcn.train.trainer import Trainer

__all__ = ["Checkpointer", "CheckpointWarning", "encode", "decode", "read_checkpoint", "config_mismatch"]

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
        data = path.read_bytes()
    except OSError as err:
        raise CheckpointError(f"cannot read checkpoint {path}: {err.strerror}") from None
    return decode(data, str(path))


def _flat(tree: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(tree, dict):
        return {prefix: tree}
    return {k: v for key, sub in tree.items() for k, v in _flat(sub, f"{prefix}.{key}" if prefix else key).items()}


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
        self.folder.mkdir(parents=True, exist_ok=True)
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

    def latest_checkpoint(self) -> dict[str, Any] | None:
        """The newest valid checkpoint as :meth:`latest` finds it: ``trainer`` (its state) and ``spec`` (the model's
        spec fields; ``None`` in a checkpoint written before specs were stored), or ``None``."""
        for stale in self.folder.glob(".*.tmp"):  # left by a write that was killed before its rename
            stale.unlink(missing_ok=True)
        for _, path in reversed(self.positions()):
            try:
                state = read_checkpoint(path)
            except CheckpointError as err:
                warnings.warn(f"skipping checkpoint: {err}", CheckpointWarning, stacklevel=2)
                continue
            diff = config_mismatch(json.loads(state["config"]), self.config)
            if diff:
                raise CheckpointError(f"checkpoint {path} belongs to another configuration: " + "; ".join(diff[:5]))
            return {"trainer": state["trainer"], "spec": json.loads(state["spec"]) if "spec" in state else None}
        return None
