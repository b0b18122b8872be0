"""From a config to a trained model: build the dataset, the model and the trainer, run, record.

The one place that knows every floor below it; the CLI only parses arguments and calls it.
"""

from __future__ import annotations

import dataclasses
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from gatedgcn.config import Config
from gatedgcn.data import Dataset, load_dataset
from gatedgcn.data.encodings import add_encoding
from gatedgcn.errors import CheckpointError, ConfigError, TrainingInterrupted
from gatedgcn.graph import collate
from gatedgcn.model import GraphNet, ModelSpec
from gatedgcn.tensorboard import TensorBoardLogger
from gatedgcn.train.checkpoint import Checkpointer, config_mismatch
from gatedgcn.train.objective import Objective
from gatedgcn.train.progress import EpochLine
from gatedgcn.train.run import RunDir
from gatedgcn.train.signals import stop_on_signals
from gatedgcn.train.trainer import Schedule, Trainer

__all__ = ["Experiment", "seed_everything", "train", "evaluate", "cross_validate"]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def model_spec(config: Config, data: Dataset) -> ModelSpec:
    m = config.model
    spec = ModelSpec(
        layer=m.layer, layers=m.layers, hidden=m.hidden, out_dim=data.task.num_outputs, level=data.task.level,
        in_dim=data.in_dim, node_vocab=data.node_vocab, edge_in_dim=data.edge_in_dim, edge_vocab=data.edge_vocab,
        readout=m.readout, batch_norm=m.batch_norm, residual=m.residual, dropout=m.dropout,
        graph_size_norm=m.graph_size_norm, heads=m.heads, gcn_norm=m.gcn_norm,
    )
    if not m.edge_features:
        spec = dataclasses.replace(spec, edge_in_dim=0, edge_vocab=0)
    if config.data.pe != "none":
        spec = dataclasses.replace(spec, pe_dim=config.data.pe_dim, pe_sign_flip=config.data.pe == "laplacian")
    return spec


@dataclass
class Experiment:
    """A dataset, a model for it and the objective of its task, all fixed by one config."""

    config: Config
    data: Dataset
    model: GraphNet
    objective: Objective

    @classmethod
    def build(cls, config: Config) -> "Experiment":
        d = config.data
        data = load_dataset(
            d.name, data_dir=d.resolved_data_dir(), seed=d.seed, num_train=d.num_train, num_val=d.num_val,
            num_test=d.num_test, min_nodes=d.min_nodes, max_nodes=d.max_nodes,
            cache_dir=d.resolved_cache_dir(), workers=d.workers,
            folds=d.folds, fold=d.fold, path=d.path,
        )
        if d.pe != "none":
            data.splits = {split: add_encoding(graphs, d.pe, d.pe_dim) for split, graphs in data.splits.items()}
        seed_everything(config.train.seed)
        model = GraphNet(model_spec(config, data))
        return cls(config, data, model, Objective(data.task.kind, data.task.metric, balance_batches=data.task.balance_classes))

    def loader(self, split: str, *, shuffle: bool = False) -> DataLoader:
        generator = torch.Generator().manual_seed(self.config.train.seed)
        return DataLoader(
            self.data.splits[split], batch_size=self.config.train.batch_size, shuffle=shuffle,
            collate_fn=collate, generator=generator,
        )

    def eval_loaders(self) -> dict[str, DataLoader]:
        return {name: self.loader(name) for name in ("val", "test") if self.data.splits.get(name)}

    def trainer(self, *, progress: bool, callbacks: tuple = (), detect_anomaly: bool = False) -> Trainer:
        t = self.config.train
        schedule = Schedule(t.epochs, t.lr, t.weight_decay, t.lr_factor, t.lr_patience, t.min_lr, t.time_budget_s)
        return Trainer(self.model, self.objective, schedule, device=t.device, progress=progress, callbacks=callbacks,
                       max_bad_steps=t.max_nonfinite_steps, detect_anomaly=detect_anomaly)

    def checkpointer(self, run: RunDir) -> Checkpointer:
        t = self.config.train
        return Checkpointer(run.path / "checkpoints", config=self.config.to_dict(), keep=t.keep_checkpoints, every_minutes=t.checkpoint_minutes)


def _open_for_resume(config: Config, out: str | Path) -> RunDir:
    run = RunDir.open(out)
    diff = config_mismatch(Config.load(run.config_path).to_dict(), config.to_dict())
    if diff:
        raise CheckpointError(f"--resume {run.path}: the config differs from the run's config.yaml: " + "; ".join(diff[:5]))
    run.remove_partial_files()
    return run


def train(config: Config, out: str | Path, *, overwrite: bool = False, progress: bool = True, resume: bool = False,
          detect_anomaly: bool = False, tensorboard: bool = False) -> dict[str, Any]:
    """Train as ``config`` says, writing the run directory ``out``; returns the summary.

    With ``tensorboard``, TensorBoard event files go to ``out/tensorboard`` (see :mod:`gatedgcn.tensorboard`).

    With ``resume``, ``out`` is an existing run directory of the same config, and training goes on from
    its newest valid checkpoint (from the start if there is none); a resumed run ends with the same
    weights and ``summary.json`` as one never interrupted.  On SIGINT/SIGTERM a checkpoint is written
    and :class:`TrainingInterrupted` says how to resume.
    """
    if config.train.device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"train.device: {config.train.device!r} asked for, but CUDA is not available here; use cpu")
    run = _open_for_resume(config, out) if resume else RunDir.create(out, overwrite=overwrite)
    if not resume:
        run.write_config(config.dump())
    exp = Experiment.build(config)
    boards = (TensorBoardLogger.open(run.path / "tensorboard", exp.model, next(iter(exp.loader("train")))),) if tensorboard else ()
    lines = (EpochLine(config.train.epochs, sum(len(exp.data.splits[s]) for s in ("train", *exp.eval_loaders()))),) if progress else ()
    trainer = exp.trainer(progress=progress, callbacks=(run.append_metrics, *boards, *lines), detect_anomaly=detect_anomaly)
    save = exp.checkpointer(run)
    if resume:
        state = save.latest()
        if state is not None:
            trainer.load_state_dict(state)
        run.write_metrics(trainer.position.history)
    try:
        with stop_on_signals() as should_stop:
            history = trainer.fit(exp.loader("train", shuffle=True), exp.eval_loaders(), save=save, should_stop=should_stop)
    except TrainingInterrupted as err:
        raise TrainingInterrupted(f"{err}; a checkpoint is in {save.folder}. Resume with: gatedgcn train --resume {run.path}", err.signum) from None
    for board in boards:
        board.close()
    run.save_weights(exp.model)
    final = trainer.evaluate({name: exp.loader(name) for name in exp.data.splits if exp.data.splits[name]})
    summary = {
        "dataset": config.data.name,
        "model": config.model.layer,
        "parameters": exp.model.num_parameters(),
        "epochs": len(history),
        "metric": exp.objective.metric,
        **final,
    }
    run.write_summary(summary)  # no wall-clock time in it: a resumed run writes the same file (the times are in metrics.jsonl)
    return summary


def evaluate(run_dir: str | Path, *, splits: tuple[str, ...] = ("train", "val", "test")) -> dict[str, Any]:
    """Rebuild the model of a run directory, load its weights and score the splits again."""
    run = RunDir.open(run_dir)
    config = Config.load(run.config_path)
    exp = Experiment.build(config)
    run.load_weights(exp.model)
    trainer = exp.trainer(progress=False)
    return trainer.evaluate({name: exp.loader(name) for name in splits if exp.data.splits.get(name)})


def cross_validate(config: Config, out: str | Path, *, overwrite: bool = False, progress: bool = True) -> dict[str, Any]:
    """Train every fold of ``config.data.folds``-fold cross-validation into ``out/fold-K``.

    ``out/summary.json`` holds, for each split, the mean and the (population) standard deviation of
    the metric over the folds, and the summary of each fold.
    """
    folds = config.data.folds
    if folds < 3:
        raise ConfigError(f"cross-validation needs data.folds >= 3 (e.g. --folds 10), got {folds}")
    run = RunDir.create(out, overwrite=overwrite)
    run.write_config(config.dump())
    start = time.perf_counter()
    per_fold = [
        train(config.with_overrides([f"data.fold={fold}"]), run.path / f"fold-{fold}", overwrite=overwrite, progress=progress)
        for fold in range(folds)
    ]
    metric = per_fold[0]["metric"]
    summary: dict[str, Any] = {
        "dataset": config.data.name, "model": config.model.layer, "folds": folds, "metric": metric,
        "parameters": per_fold[0]["parameters"], "epochs": max(s["epochs"] for s in per_fold),
        "seconds": round(time.perf_counter() - start, 2),
    }
    for split in ("train", "val", "test"):
        values = np.array([s[split][metric] for s in per_fold if split in s])  # [folds]
        if len(values):
            summary[split] = {metric: float(values.mean()), f"{metric}_std": float(values.std())}
    summary["per_fold"] = per_fold
    run.write_summary(summary)
    return summary
