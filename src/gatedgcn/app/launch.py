"""Launching an experiment: train (one process, or under torchrun with DDP), resume, cross-validate, evaluate.

    launch.train(config, "runs/x")                 # a new run directory
    launch.train(config, "runs/x", resume=True)    # on from its newest valid checkpoint
    launch.cross_validate(config, "runs/cv")       # one run per fold, the mean and std over them
    launch.evaluate("runs/x")                      # the stored weights, scored again

Building the dataset, model and trainer is :mod:`gatedgcn.app.experiment`; the checks of ``--nproc`` are
:func:`check_nproc`, here alone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from gatedgcn.app.config import Config
from gatedgcn.app.encoding import encoding_of
from gatedgcn.app.experiment import Experiment, load_run, seed_everything
from gatedgcn.app.resume import (
    completed_epochs,
    discarded_if_unstarted,
    fitting_checkpoint,
    is_finished,
    open_for_resume,
)
from gatedgcn.app.tensorboard import TensorBoardLogger
from gatedgcn.errors import ConfigError, TrainingInterrupted
from gatedgcn.model import GraphNet
from gatedgcn.nn.norm import synchronised
from gatedgcn.train.checkpoint import Checkpointer
from gatedgcn.train.distributed import EpochSave, World, process_group, rank_rng, world_from_env
from gatedgcn.train.progress import EpochLine
from gatedgcn.train.run import RunDir
from gatedgcn.train.signals import stop_on_signals
from gatedgcn.train.trainer import Trainer

__all__ = [
    "train",
    "evaluate",
    "cross_validate",
    "best_val",
    "completed_epochs",
    "is_finished",
    "check_nproc",
    "sync_batch_norm",
]


def check_nproc(config: Config, nproc: int, *, launching: bool = True) -> None:
    """:class:`ConfigError` unless ``config`` can be trained by ``nproc`` data-parallel processes (``launching``:
    by ``gatedgcn train --nproc``, which trains one run; else in a process torchrun started)."""
    if nproc < 1:
        raise ConfigError(f"--nproc must be >= 1, got {nproc}")
    if launching and config.data.folds:
        raise ConfigError("--nproc trains one run; it does not combine with --folds")
    if config.train.batch_size % nproc:
        raise ConfigError(
            f"--batch-size {config.train.batch_size} (train.batch_size) is the global batch: "
            f"it must be a multiple of the {nproc} processes (--nproc)"
        )


def sync_batch_norm(model: GraphNet, device: str) -> GraphNet:
    """``model`` with its batch norms synchronised across the processes: ``torch.nn.SyncBatchNorm`` on CUDA
    (nccl), :class:`~gatedgcn.nn.norm.SyncBatchNorm` elsewhere (gloo, where torch's does not run); the same
    GraphNet, its batch-norm modules replaced."""
    synced = nn.SyncBatchNorm.convert_sync_batchnorm(model) if device.startswith("cuda") else synchronised(model)
    assert synced is model  # the root is no batch norm: converted in place, children replaced
    return model


def train(
    config: Config,
    out: str | Path,
    *,
    overwrite: bool = False,
    progress: bool = True,
    resume: bool = False,
    detect_anomaly: bool = False,
    tensorboard: bool = False,
) -> dict[str, Any]:
    """Train as ``config`` says, writing the run directory ``out``; returns the summary.

    Under torchrun (``RANK`` / ``WORLD_SIZE`` set), every process trains on its shard with
    ``DistributedDataParallel`` and only rank 0 writes (see :mod:`gatedgcn.train.distributed`).

    With ``tensorboard``, TensorBoard event files go to ``out/tensorboard`` (see :mod:`gatedgcn.app.tensorboard`).

    With ``resume``, ``out`` is an existing run directory of the same config, and training goes on from
    its newest valid checkpoint (from the start if there is none); a resumed run ends with the same
    weights and ``summary.json`` as one never interrupted.  On SIGINT/SIGTERM a checkpoint is written
    and :class:`TrainingInterrupted` says how to resume.
    """
    if config.train.device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"train.device: {config.train.device!r} asked for, but CUDA is not available here; use cpu")
    world = world_from_env()
    if world is not None:
        check_nproc(config, world.size, launching=False)
    options = {"progress": progress, "detect_anomaly": detect_anomaly, "tensorboard": tensorboard}
    with process_group(config.train.device) if world is not None else contextlib.nullcontext():
        return _train_locked(config, out, world, overwrite=overwrite, resume=resume, **options)


def _train_locked(
    config: Config, out: str | Path, world: World | None, *, overwrite: bool, resume: bool, **options: Any
) -> dict[str, Any]:
    """:func:`_train` in the run directory, which the main process holds locked from start to end."""
    if world is not None and not world.main:
        return _train(config, RunDir(out), world, resume=resume, **options)  # reads rank 0's files; writes nothing
    finished = resume and is_finished(config, out)  # its last checkpoint: no epoch left, scored and written again
    existed = Path(out).exists()
    run = open_for_resume(config, out, finished=finished) if resume else RunDir.create(out, overwrite=overwrite)
    with discarded_if_unstarted(run, existed, keep=resume):
        if not resume:
            run.write_config(config.dump())
        return _train(config, run, world, resume=resume, **options)


def _experiment(config: Config, run: RunDir, world: World | None, *, resume: bool, progress: bool):
    """The newest checkpoint (on resume) and the experiment: on resume its model rebuilt from the stored spec;
    with ``train.sync_batch_norm`` under DDP, the model's batch norms synchronised."""
    checkpoint = None
    if resume:
        checkpoint = Checkpointer(run.path / "checkpoints", config=config.to_dict()).latest_checkpoint()
        exp = Experiment.of_run(run, config, progress=progress, spec=None if checkpoint is None else checkpoint["spec"])
    else:
        exp = Experiment.build(config, progress=progress)
    if world is not None and config.train.sync_batch_norm:  # the gated layers then run their plain code
        exp = dataclasses.replace(exp, model=sync_batch_norm(exp.model, config.train.device))
    return checkpoint, exp


def _train(
    config: Config,
    run: RunDir,
    world: World | None,
    *,
    progress: bool,
    resume: bool,
    detect_anomaly: bool,
    tensorboard: bool,
) -> dict[str, Any]:
    main = world is None or world.main
    progress, tensorboard = progress and main, tensorboard and main  # progress: one line per epoch
    bars = progress and sys.stderr.isatty()  # progress bars on a terminal only, not in a log file
    if world is not None:
        dist.barrier()  # rank 0 has made (or opened) the run directory
    checkpoint, exp = _experiment(config, run, world, resume=resume, progress=bars)
    if progress:
        print(exp.data.summary_line(), flush=True)  # graphs, nodes, edges, outputs, split sizes: before any epoch
    seed_everything(config.train.seed)  # the training's random streams (dropout); a resume restores its own
    boards = _boards(exp, run) if tensorboard else ()
    callbacks = (run.append_metrics, *boards, *_epoch_lines(exp, progress)) if main else ()
    trainer = exp.trainer(progress=bars, callbacks=callbacks, detect_anomaly=detect_anomaly, world=world)
    if resume:
        if checkpoint is not None:
            checkpoint = fitting_checkpoint(run, config, trainer, checkpoint["spec"])
        if checkpoint is not None:
            trainer.load_state_dict(rank_rng(checkpoint["trainer"], world or World()))  # each process its RNG states
        if main:
            run.write_metrics(trainer.position.history)
    history = _fit(exp, trainer, run, world)
    for board in boards:
        board.close()
    if main:
        run.save_weights(exp.model)
    summary = _summary(exp, trainer, history)
    if main:
        run.write_summary(summary)  # no wall-clock time in it: a resumed run writes the same file
    return summary


def _boards(exp: Experiment, run: RunDir) -> tuple[TensorBoardLogger, ...]:
    return (TensorBoardLogger.open(run.path / "tensorboard", exp.model, next(iter(exp.loader("train")))),)


def _epoch_lines(exp: Experiment, progress: bool) -> tuple[EpochLine, ...]:
    graphs = sum(len(exp.data.splits[s]) for s in ("train", *exp.eval_loaders()))
    return (EpochLine(exp.config.train.epochs, graphs),) if progress else ()


def _fit(exp: Experiment, trainer: Trainer, run: RunDir, world: World | None) -> list[dict[str, Any]]:
    """``trainer.fit`` with a checkpoint after each epoch (under DDP: every rank's RNG in it) and on SIGINT/SIGTERM
    (one process; under torchrun the launcher stops every process at once)."""
    save = exp.checkpointer(run)
    # EpochSave hands the checkpointer a trainer with every rank's RNG states in it, which reads as a Trainer
    hook = save if world is None else EpochSave(save if world.main else None)  # type: ignore[arg-type]
    signals = stop_on_signals() if world is None else contextlib.nullcontext(lambda: 0)
    try:
        with signals as should_stop:
            train_loader = exp.loader("train", shuffle=True, world=world)
            return trainer.fit(train_loader, exp.eval_loaders(), save=hook, should_stop=should_stop)
    except TrainingInterrupted as err:
        raise TrainingInterrupted(
            f"{err}; a checkpoint is in {save.folder}. Resume with: gatedgcn train --resume {run.path}", err.signum
        ) from None


def _summary(exp: Experiment, trainer: Trainer, history: list[dict[str, Any]]) -> dict[str, Any]:
    final = trainer.evaluate({name: exp.loader(name) for name in exp.data.splits if exp.data.splits[name]})
    return {
        "dataset": exp.config.data.name,
        "model": exp.config.model.layer,
        "parameters": exp.model.num_parameters(),
        "epochs": len(history),
        "metric": exp.objective.metric,
        "data": exp.data.counts(),  # graphs, nodes, edges, task, outputs and the size of each split
        "encoding": encoding_of(exp.data),  # what predict needs of the dataset: it is not read again
        **final,
        "best_val": best_val(history, trainer.position.best_epoch),
        "spec": dataclasses.asdict(exp.model.spec),  # the model as built: eval, predict and resume rebuild it from this
    }


def best_val(history: list[dict[str, Any]], epoch: int) -> dict[str, Any] | None:
    """``{"epoch": k, "loss": ..., metric: ...}``: the validation scores of the best epoch ``k`` (``None`` without one)."""
    record = next((r for r in history if r["epoch"] == epoch), None)
    return None if record is None or "val" not in record else {"epoch": epoch, **record["val"]}


def evaluate(run_dir: str | Path, *, splits: tuple[str, ...] = ("train", "val", "test")) -> dict[str, Any]:
    """Rebuild the model of a run directory (from its stored spec), load its weights and score the splits again."""
    _, exp = load_run(run_dir)
    trainer = exp.trainer(progress=False)
    return trainer.evaluate({name: exp.loader(name) for name in splits if exp.data.splits.get(name)})


def cross_validate(
    config: Config, out: str | Path, *, overwrite: bool = False, progress: bool = True
) -> dict[str, Any]:
    """Train every fold of ``config.data.folds``-fold cross-validation into ``out/fold-K``.

    ``out/summary.json`` holds, for each split, the mean and the (population) standard deviation of
    the metric over the folds, and the summary of each fold.
    """
    folds = config.data.folds
    if folds < 3:
        raise ConfigError(f"cross-validation needs data.folds >= 3 (e.g. --folds 10), got {folds}")
    existed = Path(out).exists()
    run = RunDir.create(out, overwrite=overwrite)
    with discarded_if_unstarted(run, existed, keep=False):
        return _cross_validate(config, run, folds, overwrite=overwrite, progress=progress)


def _cross_validate(config: Config, run: RunDir, folds: int, *, overwrite: bool, progress: bool) -> dict[str, Any]:
    run.write_config(config.dump())
    start = time.perf_counter()
    per_fold = [
        train(config.with_overrides([f"data.fold={k}"]), run.path / f"fold-{k}", overwrite=overwrite, progress=progress)
        for k in range(folds)
    ]
    metric = per_fold[0]["metric"]
    summary: dict[str, Any] = {
        "dataset": config.data.name,
        "model": config.model.layer,
        "folds": folds,
        "metric": metric,
        "parameters": per_fold[0]["parameters"],
        "epochs": max(s["epochs"] for s in per_fold),
        "seconds": round(time.perf_counter() - start, 2),
    }
    for split in ("train", "val", "test"):
        values = np.array([s[split][metric] for s in per_fold if split in s])  # [folds]
        if len(values):
            summary[split] = {metric: float(values.mean()), f"{metric}_std": float(values.std())}
    summary["per_fold"] = per_fold
    run.write_summary(summary)
    return summary
