"""The run directory: resolved config, one metrics line per epoch, summary, weights.

    RUN_DIR/config.yaml        the resolved config (train --config RUN_DIR/config.yaml repeats the run)
    RUN_DIR/metrics.jsonl      one JSON line per epoch
    RUN_DIR/summary.json       final metrics per split, e.g. {"test": {"accuracy": 0.99}, ...}, the best validation
                               epoch, and the model's spec (the ModelSpec fields it was built with)
    RUN_DIR/model.safetensors  the weights (safetensors: loading runs no code)
    RUN_DIR/checkpoints/       what a resume needs (see :mod:`gatedgcn.train.checkpoint`)
    RUN_DIR/.lock              the pid of the run writing the folder (see :mod:`gatedgcn.train.lock`)

Files are replaced atomically (temporary file in the same folder, fsync, rename), so a crash
never leaves a half-written summary or weights file behind.  Every file gets the mode the umask
gives (``0644`` under the usual ``022``), as an appended ``metrics.jsonl`` does.  A run that writes
holds the folder's lock (:meth:`RunDir.create`, :meth:`RunDir.resume`) until :meth:`RunDir.release`.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import stat
from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from safetensors.torch import load_file, save
from torch import nn

from gatedgcn.errors import RunDirError
from gatedgcn.train.lock import LOCK_NAME, RunLock

__all__ = ["RunDir", "atomic_write", "read_text"]


def read_text(path: Path) -> str:
    """A file of the run as text: a plain file of UTF-8 (a device or folder in its place is refused, not read)."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise RunDirError(f"{path} is not a plain file")
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise RunDirError(f"{path}: not UTF-8 text (byte {err.start})") from None
    except RunDirError:
        raise
    except OSError as err:
        raise RunDirError(f"cannot read {path}: {err.strerror or err}") from None


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a mix.

    A failure (full disk, no permission) raises :class:`RunDirError` and leaves the old file as it was."""
    tmp = None
    try:
        name = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)  # umask applies
        tmp = name
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise RunDirError(
                f"cannot write {path}: {err.strerror or err}; the previous {path.name} (if any) is unchanged"
            ) from None
        raise


class RunDir:
    CONFIG, METRICS, SUMMARY, WEIGHTS = "config.yaml", "metrics.jsonl", "summary.json", "model.safetensors"

    def __init__(self, path: str | Path, lock: RunLock | None = None) -> None:
        self.path = Path(path)
        self.lock = lock

    @classmethod
    def create(cls, path: str | Path, *, overwrite: bool = False) -> RunDir:
        """A new, empty run directory, locked; an existing non-empty one needs ``overwrite``, and one that
        another live run holds is refused naming its pid (before anything in it is touched)."""
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise RunDirError(f"run directory {path} exists and is not a directory")
        if path.is_dir() and any(p.name != LOCK_NAME for p in path.iterdir()) and not overwrite:
            RunLock.check_free(path)
            raise RunDirError(
                f"run directory {path} already exists and is not empty; pass --resume {path} to continue it, --overwrite to replace it, or choose another --out"
            )
        lock = None
        try:
            path.mkdir(parents=True, exist_ok=True)
            lock = RunLock.acquire(path)
            _empty(path)
            probe = path / ".write-test"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as err:
            if lock is not None:
                lock.release()
            if isinstance(err, RunDirError):
                raise
            raise RunDirError(f"cannot write to run directory {path}: {err.strerror}") from None
        return cls(path, lock)

    @classmethod
    def open(cls, path: str | Path) -> RunDir:
        """An existing run directory, to read."""
        run = cls(path)
        if not (run.path / cls.CONFIG).is_file():
            raise RunDirError(f"{run.path} is not a run directory (no {cls.CONFIG})")
        return run

    @classmethod
    def resume(cls, path: str | Path) -> RunDir:
        """An existing run directory, locked to go on writing it (refused while another run holds it)."""
        run = cls.open(path)
        try:
            run.lock = RunLock.acquire(run.path)
        except RunDirError:
            raise
        except OSError as err:
            raise RunDirError(f"cannot write to run directory {run.path}: {err.strerror}") from None
        return run

    def release(self) -> None:
        """Drop the lock (the end of the process drops it too)."""
        if self.lock is not None:
            self.lock.release()

    def started(self) -> bool:
        """Whether training left anything to go on from: an epoch's record, a checkpoint, or a fold's run."""
        metrics, checkpoints = self.path / self.METRICS, self.path / "checkpoints"
        if metrics.is_file() and metrics.stat().st_size > 0:
            return True
        if checkpoints.is_dir() and any(checkpoints.iterdir()):
            return True
        return any(p.is_dir() and p.name.startswith("fold-") for p in self.path.iterdir())

    def discard(self, *, created: bool) -> None:
        """Undo a run that failed before its first epoch, so that no ``--resume`` is offered for it: the folder
        removed if this command ``created`` it, else emptied (a folder that was there before stays); the lock
        dropped."""
        try:
            _empty(self.path)
        finally:
            self.release()
        (self.path / LOCK_NAME).unlink(missing_ok=True)
        if created:
            with contextlib.suppress(OSError):  # another process made something in it meanwhile: leave it
                self.path.rmdir()

    @property
    def config_path(self) -> Path:
        return self.path / self.CONFIG

    def write_config(self, text: str) -> None:
        atomic_write(self.config_path, text.encode())

    def append_metrics(self, record: dict[str, Any]) -> None:
        try:
            with open(self.path / self.METRICS, "a") as f:
                f.write(json.dumps(record) + "\n")
                f.flush()
                os.fsync(f.fileno())
        except OSError as err:
            raise RunDirError(f"cannot append to {self.path / self.METRICS}: {err.strerror or err}") from None

    def write_metrics(self, records: list[dict[str, Any]]) -> None:
        """Replace the metrics with ``records`` (on resume: the epochs of the checkpoint)."""
        atomic_write(self.path / self.METRICS, "".join(json.dumps(r) + "\n" for r in records).encode())

    def remove_partial_files(self) -> None:
        """Delete the temporary files of writes that were killed before their rename."""
        for stale in self.path.glob(".*.tmp"):
            stale.unlink(missing_ok=True)

    def read_metrics(self) -> list[dict[str, Any]]:
        """The epoch records; a line that is not a JSON object is refused naming the file and line."""
        path = self.path / self.METRICS
        records = []
        for lineno, line in enumerate(read_text(path).splitlines() if path.exists() else [], start=1):
            try:
                record = json.loads(line) if line.strip() else None
            except (ValueError, RecursionError):
                raise RunDirError(f"{path}:{lineno}: not valid JSON") from None
            if record is not None and not (isinstance(record, dict) and type(record.get("epoch")) is int):
                raise RunDirError(f"{path}:{lineno}: not an epoch record (a JSON object with an integer epoch)")
            records += [] if record is None else [record]
        return records

    def write_summary(self, summary: dict[str, Any]) -> None:
        atomic_write(self.path / self.SUMMARY, (json.dumps(summary, indent=2) + "\n").encode())

    def read_summary(self) -> dict[str, Any]:
        """The summary; ``{}`` while the run has none yet."""
        path = self.path / self.SUMMARY
        try:
            summary = json.loads(read_text(path)) if path.is_file() else {}
        except json.JSONDecodeError as err:
            raise RunDirError(f"{path}: not valid JSON ({err.msg}, line {err.lineno})") from None
        except RecursionError:
            raise RunDirError(f"{path}: not valid JSON (nested too deep)") from None
        if not isinstance(summary, dict):
            raise RunDirError(f"{path}: not a JSON object")
        return summary

    def stored_spec(self) -> dict[str, Any] | None:
        """The ModelSpec fields the run's model was built with (summary.json's ``spec``); ``None`` before the run
        has finished, and for runs written before the spec was stored."""
        spec = self.read_summary().get("spec")
        if spec is not None and not isinstance(spec, dict):
            raise RunDirError(f"{self.path / self.SUMMARY}: spec is not a mapping of ModelSpec fields")
        return spec

    def save_weights(self, model: nn.Module) -> None:
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        atomic_write(self.path / self.WEIGHTS, save(state))

    def load_weights(self, model: nn.Module) -> None:
        """Load the saved weights into ``model``; a file of another architecture is refused."""
        path = self.path / self.WEIGHTS
        try:
            if not stat.S_ISREG(path.stat().st_mode):
                raise RunDirError(f"cannot read weights {path}: not a plain file")
            state = load_file(path)
        except (OSError, SafetensorError) as err:
            raise RunDirError(f"cannot read weights {path}: {err}") from None
        own = model.state_dict()
        missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
        if missing or unexpected:
            raise RunDirError(
                f"weights {path} do not match the model: missing {missing[:3]}, unexpected {unexpected[:3]}"
            )
        for key, value in state.items():
            if value.shape != own[key].shape:
                raise RunDirError(
                    f"weights {path}: {key} has shape {list(value.shape)}, the model expects {list(own[key].shape)}"
                )
        model.load_state_dict(state)


def _empty(path: Path) -> None:
    """Delete what ``path`` holds except its lock file (kept: the lock stays held while the folder is replaced)."""
    for entry in path.iterdir():
        if entry.name == LOCK_NAME:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
