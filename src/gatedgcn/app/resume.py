"""The run directory a command trains into: a new one discarded when it fails before its first epoch, or one to go
on with (``gatedgcn train --resume RUN``): is it finished, does its config still fit, which checkpoint loads.

A finished run (its summary.json is written last) is complete: resuming it trains nothing, unless ``--epochs N``
asks for more epochs than its config.yaml, which trains it on (config.yaml then says so).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from gatedgcn.app.config import Config
from gatedgcn.errors import CheckpointError, ConfigError
from gatedgcn.train.checkpoint import LENGTH, Checkpointer, config_mismatch, misfit
from gatedgcn.train.run import RunDir
from gatedgcn.train.trainer import Trainer

__all__ = ["completed_epochs", "is_finished", "open_for_resume", "fitting_checkpoint", "discarded_if_unstarted"]


def completed_epochs(run_dir: str | Path) -> int | None:
    """The epochs of a finished run (its summary.json is written last), ``None`` while it is not finished."""
    path = Path(run_dir)
    if not (path / RunDir.SUMMARY).is_file():
        return None
    return RunDir(path).read_summary().get("epochs")


def is_finished(config: Config, out: str | Path) -> bool:
    """Whether the run ``out`` has finished (its summary.json is written last) and ``config`` asks for no more
    epochs than its config.yaml (more: ``--resume --epochs N`` trains it on)."""
    if completed_epochs(out) is None:
        return False
    return config.train.epochs <= Config.load(Path(out) / RunDir.CONFIG).train.epochs


@contextlib.contextmanager
def discarded_if_unstarted(run: RunDir, existed: bool, *, keep: bool):
    """Within: the run; after, its lock dropped, and, on an error before the first epoch of a new run (``keep``
    False), the run directory removed if this command made it (else emptied): nothing is left to resume."""
    try:
        yield run
    except BaseException:
        if keep or run.started():
            run.release()
        else:
            run.discard(created=not existed)
        raise
    run.release()


def open_for_resume(config: Config, out: str | Path, *, finished: bool) -> RunDir:
    """The run directory to go on with, locked: its config.yaml must be ``config`` but for ``train.epochs``
    (more epochs train a finished run on: config.yaml then says so; fewer only leave a finished run as it is)."""
    saved = Config.load(RunDir.open(out).config_path)
    diff = [d for d in config_mismatch(saved.to_dict(), config.to_dict()) if not d.startswith(LENGTH)]
    if diff:
        raise CheckpointError(f"--resume {out}: the config differs from the run's config.yaml: " + "; ".join(diff[:5]))
    if config.train.epochs < saved.train.epochs and not finished:
        raise ConfigError(
            f"--resume {out}: --epochs {config.train.epochs} is fewer than the run's {saved.train.epochs}"
        )
    run = RunDir.resume(out)  # locked from here to the end of the run
    if config.train.epochs > saved.train.epochs:
        run.write_config(config.dump())
    run.remove_partial_files()
    return run


def fitting_checkpoint(run: RunDir, config: Config, trainer: Trainer, spec: Any) -> dict[str, Any] | None:
    """The newest checkpoint whose trainer state loads into ``trainer`` (built from the newest one's ``spec``):
    one of the right checksum but of another structure is skipped with a warning, as a corrupt one is."""
    template = trainer.state_dict()
    shapes = [p.shape for group in trainer.optimizer.param_groups for p in group["params"]]

    def fits(state: dict[str, Any]) -> str | None:
        if state["spec"] != spec:
            return "its model spec is not the newest checkpoint's"
        return misfit(template, state["trainer"], shapes)

    return Checkpointer(run.path / "checkpoints", config=config.to_dict()).latest_checkpoint(fits)
