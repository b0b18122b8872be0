"""From a config to a trained model: build the dataset, the model and the trainer, run, record.

The one place that knows every floor below it; the CLI only parses arguments and calls it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from gatedgcn.app.config import Config
from gatedgcn.data import Dataset, load_dataset
from gatedgcn.data.encodings import add_encoding
from gatedgcn.data.sampling import NeighbourSampler
from gatedgcn.errors import CheckpointError, ConfigError, GatedGCNError, RunDirError, TrainingInterrupted
from gatedgcn.graph import Batch, Graph, collate
from gatedgcn.layerwise import DEFAULT_CHUNK, Layerwise, check_layerwise
from gatedgcn.model import GraphNet, ModelSpec
from gatedgcn.app.tensorboard import TensorBoardLogger
from gatedgcn.train.checkpoint import Checkpointer, config_mismatch, misfit
from gatedgcn.train.distributed import (
    EpochSave,
    ShardSampler,
    World,
    gather_tally,
    process_group,
    rank_rng,
    sync_batch_norm,
    world_from_env,
)
from gatedgcn.train.objective import Objective, balances_batches
from gatedgcn.train.progress import EpochLine
from gatedgcn.train.run import RunDir
from gatedgcn.train.signals import stop_on_signals
from gatedgcn.train.trainer import Schedule, Trainer

__all__ = ["Experiment", "seed_everything", "train", "evaluate", "cross_validate"]


DTYPES = {"float32": torch.float32, "float64": torch.float64}


def collate_as(dtype: torch.dtype, graphs: Sequence[Graph]) -> Batch:
    """:func:`collate`, with the float tensors of the batch in ``dtype``."""
    batch = collate(graphs)
    floats = {
        f.name: t.to(dtype)
        for f in dataclasses.fields(batch)
        if isinstance(t := getattr(batch, f.name), torch.Tensor) and t.is_floating_point()
    }
    return dataclasses.replace(batch, **floats)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def model_spec(config: Config, data: Dataset) -> ModelSpec:
    m = config.model
    if m.input_dropout > 0 and data.node_vocab > 0:
        raise ConfigError(f"model.input_dropout drops float node features; the nodes of {data.name} carry category ids")
    spec = ModelSpec(
        layer=m.layer,
        layers=m.layers,
        hidden=m.hidden,
        out_dim=data.task.num_outputs,
        level=data.task.level,
        in_dim=data.in_dim,
        node_vocab=data.node_vocab,
        edge_in_dim=data.edge_in_dim,
        edge_vocab=data.edge_vocab,
        readout=m.readout,
        batch_norm=m.batch_norm,
        residual=m.residual,
        dropout=m.dropout,
        graph_size_norm=m.graph_size_norm,
        heads=m.heads,
        gcn_norm=m.gcn_norm,
        impl=m.impl,
        input_dropout=m.input_dropout,
        head_layers=m.head_layers,
        self_loops=m.self_loops,
        gcn_self_weight=m.gcn_self_weight,
        attention_activation=m.attention_activation,
    )
    if not m.edge_features:
        spec = dataclasses.replace(spec, edge_in_dim=0, edge_vocab=0)
    if config.data.pe != "none":
        spec = dataclasses.replace(spec, pe_dim=config.data.pe_dim, pe_sign_flip=config.data.pe == "laplacian")
    return spec


DATA_FIELDS = (
    "level",
    "out_dim",
    "in_dim",
    "node_vocab",
    "edge_in_dim",
    "edge_vocab",
    "pe_dim",
)  # the spec fields a dataset fixes
CODE_FIELDS = ("impl",)  # fields that choose code, not weights or equations: the config's value is used


def spec_from_fields(fields: dict[str, Any]) -> ModelSpec:
    """The :class:`ModelSpec` stored as its fields (a field added to ModelSpec since takes its default)."""
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
    (``impl``: the same equations either way) follow the config; every other field must be equal (an edited config is
    refused, not silently overridden)."""
    misfits = []
    for name in (f.name for f in dataclasses.fields(ModelSpec)):
        want, got = getattr(stored, name), getattr(derived, name)
        if want == got or name in CODE_FIELDS:
            continue
        if name in ("node_vocab", "edge_vocab") and want > 0 and got > 0:
            ids = [
                t
                for split in data.splits.values()
                for g in split
                if (t := g.x if name == "node_vocab" else g.edge_attr) is not None and t.numel()
            ]
            top = max((int(t.max()) for t in ids), default=-1)
            if top < want:
                continue
            misfits.append(f"{name}: the model has {want} categories, dataset {data.name} has category {top}")
        else:
            misfits.append(
                f"{name}: {want} in the stored model spec, {got} "
                + (f"for dataset {data.name}" if name in DATA_FIELDS else "from the config")
            )
    return misfits


@dataclass
class Experiment:
    """A dataset, a model for it and the objective of its task, all fixed by one config."""

    config: Config
    data: Dataset
    model: GraphNet
    objective: Objective

    @classmethod
    def build(cls, config: Config, *, progress: bool = True, spec: ModelSpec | None = None) -> "Experiment":
        """``progress``: progress bars while a generated dataset is made (the CLI's ``--quiet`` turns them off).
        ``spec``: the model's spec as a run stored it (else derived from config and dataset); a dataset that does
        not fit it, or a config that differs from it, is refused (:class:`RunDirError` naming the field)."""
        d = config.data
        data = load_dataset(
            d.name,
            data_dir=d.resolved_data_dir(),
            seed=d.seed,
            num_train=d.num_train,
            num_val=d.num_val,
            num_test=d.num_test,
            min_nodes=d.min_nodes,
            max_nodes=d.max_nodes,
            cache_dir=d.resolved_cache_dir(),
            workers=d.workers,
            folds=d.folds,
            fold=d.fold,
            path=d.path,
            progress=progress,
        )
        if d.pe != "none":
            data.splits = {split: add_encoding(graphs, d.pe, d.pe_dim) for split, graphs in data.splits.items()}
        seed_everything(config.train.seed)
        derived = model_spec(config, data)
        misfits = [] if spec is None else spec_misfits(spec, derived, data)
        if misfits:
            raise RunDirError("dataset and config do not fit the stored model spec: " + "; ".join(misfits))
        if spec is not None:
            spec = dataclasses.replace(spec, **{name: getattr(derived, name) for name in CODE_FIELDS})
        model = GraphNet(spec or derived).to(DTYPES[config.train.dtype])
        balance = balances_batches(config.train.class_weights, data.task.kind, data.task.balance_classes)
        return cls(config, data, model, Objective(data.task.kind, data.task.metric, balance_batches=balance))

    @classmethod
    def of_run(
        cls, run: RunDir, config: Config, *, progress: bool = True, spec: dict[str, Any] | None = None
    ) -> "Experiment":
        """The experiment of an existing run, its model built from the spec stored with it (``spec``, else summary.json's);
        a run written before specs were stored gets the spec derived from config and dataset, as a new run."""
        fields = spec if spec is not None else run.stored_spec()
        try:
            return cls.build(config, progress=progress, spec=None if fields is None else spec_from_fields(fields))
        except RunDirError as err:
            raise RunDirError(f"{run.path}: {err}") from None

    def loader(self, split: str, *, shuffle: bool = False, world: World | None = None) -> DataLoader | NeighbourSampler:
        """Batches of ``split``; with ``world``, this process's shard of each epoch (``batch_size / world.size`` graphs a step);
        the training split of one big graph with ``train.fanout``: neighbour-sampled subgraphs of ``batch_size`` seeds."""
        t = self.config.train
        generator = torch.Generator().manual_seed(t.seed)
        collate_fn = collate if t.dtype == "float32" else partial(collate_as, DTYPES[t.dtype])
        if t.fanout and shuffle:
            graphs = self.data.splits[split]
            if world is not None or len(graphs) != 1 or self.data.task.level != "node":
                raise ConfigError(
                    f"train.fanout samples one big graph of a node task in one process; {self.data.name} has "
                    f"{len(graphs)} {split} graph(s), level {self.data.task.level}"
                    + (", and --nproc is set" if world else "")
                )
            return NeighbourSampler(
                graphs[0], [int(f) for f in t.fanout.split(",")], t.batch_size, seed=t.seed, collate_fn=collate_fn
            )
        if world is None:
            return DataLoader(
                self.data.splits[split],
                batch_size=t.batch_size,
                shuffle=shuffle,
                collate_fn=collate_fn,
                generator=generator,
            )
        if t.batch_size % world.size:
            raise ConfigError(
                f"train.batch_size ({t.batch_size}) is the global batch: it must be a multiple of the {world.size} processes"
            )
        sampler = ShardSampler(len(self.data.splits[split]), world, seed=t.seed, shuffle=shuffle)
        return DataLoader(
            self.data.splits[split],
            batch_size=t.batch_size // world.size,
            sampler=sampler,
            collate_fn=collate_fn,
            generator=generator,
        )

    def eval_loaders(self) -> dict[str, DataLoader]:
        return {name: self.loader(name) for name in ("val", "test") if self.data.splits.get(name)}

    def trainer(
        self, *, progress: bool, callbacks: tuple = (), detect_anomaly: bool = False, world: World | None = None
    ) -> Trainer:
        """With ``world``, the model is wrapped in ``DistributedDataParallel`` (its batch norms synchronised with
        ``train.sync_batch_norm``) and the epoch's metrics join all processes."""
        t = self.config.train
        schedule = Schedule(t.epochs, t.lr, t.weight_decay, t.lr_factor, t.lr_patience, t.min_lr, t.time_budget_s)
        if world is not None and t.sync_batch_norm:
            self.model = sync_batch_norm(self.model, t.device)  # the gated layers then run their plain code
        # find_unused_parameters: the last gated layer's edge batch norm does not reach a node or graph output
        model = self.model if world is None else DistributedDataParallel(self.model, find_unused_parameters=True)
        return Trainer(
            model,
            self.objective,
            schedule,
            device=t.device,
            progress=progress,
            callbacks=callbacks,
            max_bad_steps=t.max_nonfinite_steps,
            detect_anomaly=detect_anomaly,
            gather=None if world is None else gather_tally,
            predict=self.layerwise_predict(),
        )

    def layerwise_predict(self):
        """Evaluation of a node task layer by layer in chunks (:mod:`gatedgcn.layerwise`) with ``train.inference_chunk``,
        and with ``train.fanout`` where the model allows it (else the whole-graph forward); ``None``: the plain forward."""
        t = self.config.train
        if not (t.inference_chunk or t.fanout) or self.data.task.level != "node":
            return None
        try:
            check_layerwise(self.model)
        except GatedGCNError as err:
            if t.inference_chunk:
                raise ConfigError(f"train.inference_chunk: {err}") from None
            return None
        return Layerwise(t.inference_chunk or DEFAULT_CHUNK)  # the splits of the one graph scored from one computation

    def checkpointer(self, run: RunDir) -> Checkpointer:
        t = self.config.train
        return Checkpointer(
            run.path / "checkpoints",
            config=self.config.to_dict(),
            keep=t.keep_checkpoints,
            every_minutes=t.checkpoint_minutes,
            spec=dataclasses.asdict(self.model.spec),
        )


def _open_for_resume(config: Config, out: str | Path) -> RunDir:
    run = RunDir.open(out)
    diff = config_mismatch(Config.load(run.config_path).to_dict(), config.to_dict())
    if diff:
        raise CheckpointError(
            f"--resume {run.path}: the config differs from the run's config.yaml: " + "; ".join(diff[:5])
        )
    run = RunDir.resume(out)  # locked from here to the end of the run
    run.remove_partial_files()
    return run


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
    with process_group(config.train.device) if world is not None else contextlib.nullcontext():
        return _train_locked(
            config,
            out,
            world,
            overwrite=overwrite,
            progress=progress,
            resume=resume,
            detect_anomaly=detect_anomaly,
            tensorboard=tensorboard,
        )


def _train_locked(
    config: Config, out: str | Path, world: World | None, *, overwrite: bool, resume: bool, **options: Any
) -> dict[str, Any]:
    """:func:`_train` in the run directory, which the main process holds locked from start to end."""
    if world is not None and not world.main:
        return _train(config, RunDir(out), world, resume=resume, **options)  # reads rank 0's files; writes nothing
    run = _open_for_resume(config, out) if resume else RunDir.create(out, overwrite=overwrite)
    try:
        if not resume:
            run.write_config(config.dump())
        return _train(config, run, world, resume=resume, **options)
    finally:
        run.release()


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
    if not main:
        progress, tensorboard = False, False
    if world is not None:
        dist.barrier()  # rank 0 has made (or opened) the run directory
    if resume:  # the newest checkpoint is read first: the model is rebuilt from the spec stored with it
        checkpoint = Checkpointer(run.path / "checkpoints", config=config.to_dict()).latest_checkpoint()
        exp = Experiment.of_run(run, config, progress=progress, spec=None if checkpoint is None else checkpoint["spec"])
    else:
        checkpoint, exp = None, Experiment.build(config, progress=progress)
    boards = (
        (TensorBoardLogger.open(run.path / "tensorboard", exp.model, next(iter(exp.loader("train")))),)
        if tensorboard
        else ()
    )
    lines = (
        (EpochLine(config.train.epochs, sum(len(exp.data.splits[s]) for s in ("train", *exp.eval_loaders()))),)
        if progress
        else ()
    )
    trainer = exp.trainer(
        progress=progress,
        callbacks=(run.append_metrics, *boards, *lines) if main else (),
        detect_anomaly=detect_anomaly,
        world=world,
    )
    save = exp.checkpointer(run)
    if resume:
        if checkpoint is not None:
            checkpoint = _fitting_checkpoint(run, config, trainer, checkpoint["spec"])
        if checkpoint is not None:
            trainer.load_state_dict(
                rank_rng(checkpoint["trainer"], world or World())
            )  # each process its own RNG states
        if main:
            run.write_metrics(trainer.position.history)
    # one process: SIGINT/SIGTERM write a checkpoint first; under torchrun the launcher stops every process at once
    signals = stop_on_signals() if world is None else contextlib.nullcontext(lambda: 0)
    try:
        with signals as should_stop:
            hook = (
                save if world is None else EpochSave(save if main else None)
            )  # under DDP: after each epoch, every rank's RNG in it
            history = trainer.fit(
                exp.loader("train", shuffle=True, world=world), exp.eval_loaders(), save=hook, should_stop=should_stop
            )
    except TrainingInterrupted as err:
        raise TrainingInterrupted(
            f"{err}; a checkpoint is in {save.folder}. Resume with: gatedgcn train --resume {run.path}", err.signum
        ) from None
    for board in boards:
        board.close()
    if main:
        run.save_weights(exp.model)
    final = trainer.evaluate({name: exp.loader(name) for name in exp.data.splits if exp.data.splits[name]})
    summary = {
        "dataset": config.data.name,
        "model": config.model.layer,
        "parameters": exp.model.num_parameters(),
        "epochs": len(history),
        "metric": exp.objective.metric,
        **final,
        "best_val": best_val(history, trainer.position.best_epoch),
        "spec": dataclasses.asdict(exp.model.spec),  # the model as built: eval, predict and resume rebuild it from this
    }
    if main:
        run.write_summary(
            summary
        )  # no wall-clock time in it: a resumed run writes the same file (the times are in metrics.jsonl)
    return summary


def _fitting_checkpoint(run: RunDir, config: Config, trainer: Trainer, spec: Any) -> dict[str, Any] | None:
    """The newest checkpoint whose trainer state loads into ``trainer`` (built from the newest one's ``spec``):
    one of the right checksum but of another structure is skipped with a warning, as a corrupt one is."""
    template = trainer.state_dict()
    shapes = [p.shape for group in trainer.optimizer.param_groups for p in group["params"]]

    def fits(state: dict[str, Any]) -> str | None:
        if state["spec"] != spec:
            return "its model spec is not the newest checkpoint's"
        return misfit(template, state["trainer"], shapes)

    return Checkpointer(run.path / "checkpoints", config=config.to_dict()).latest_checkpoint(fits)


def best_val(history: list[dict[str, Any]], epoch: int) -> dict[str, Any] | None:
    """``{"epoch": k, "loss": ..., metric: ...}``: the validation scores of the best epoch ``k`` (``None`` without one)."""
    record = next((r for r in history if r["epoch"] == epoch), None)
    return None if record is None or "val" not in record else {"epoch": epoch, **record["val"]}


def evaluate(run_dir: str | Path, *, splits: tuple[str, ...] = ("train", "val", "test")) -> dict[str, Any]:
    """Rebuild the model of a run directory (from its stored spec), load its weights and score the splits again."""
    run = RunDir.open(run_dir)
    config = Config.load(run.config_path)
    exp = Experiment.of_run(run, config)
    run.load_weights(exp.model)
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
    run = RunDir.create(out, overwrite=overwrite)
    try:
        return _cross_validate(config, run, folds, overwrite=overwrite, progress=progress)
    finally:
        run.release()


def _cross_validate(config: Config, run: RunDir, folds: int, *, overwrite: bool, progress: bool) -> dict[str, Any]:
    run.write_config(config.dump())
    start = time.perf_counter()
    per_fold = [
        train(
            config.with_overrides([f"data.fold={fold}"]),
            run.path / f"fold-{fold}",
            overwrite=overwrite,
            progress=progress,
        )
        for fold in range(folds)
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
