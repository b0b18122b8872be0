"""From a config to what a run needs: the dataset, the model for it and its trainer (building only).

:class:`Experiment` is built from a config, or from a run directory whose stored spec fixes the model;
launching it (train, resume, DDP, cross-validation, evaluation) is :mod:`gatedgcn.app.launch`.
Building has no global side effect: the weights are drawn from ``train.seed`` under a forked RNG.
"""

from __future__ import annotations

import dataclasses
import random
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from gatedgcn.app.compat import fitted_spec, spec_from_fields
from gatedgcn.app.config import Config
from gatedgcn.data import Dataset, load_dataset
from gatedgcn.data.encodings import encode_splits
from gatedgcn.data.sampling import NeighbourSampler
from gatedgcn.errors import ConfigError, GatedGCNError, RunDirError
from gatedgcn.graph import Batch, Graph, collate
from gatedgcn.layerwise import DEFAULT_CHUNK, Layerwise, check_layerwise
from gatedgcn.model import GraphNet
from gatedgcn.ops import free_cores, keep_freed_memory
from gatedgcn.spec import ModelOptions, ModelSpec
from gatedgcn.train.checkpoint import Checkpointer
from gatedgcn.train.distributed import ShardSampler, World, gather_tally
from gatedgcn.train.objective import Objective, balances_batches, check_metric
from gatedgcn.train.run import RunDir
from gatedgcn.train.trainer import Schedule, Trainer

__all__ = ["Experiment", "seed_everything", "init_model", "model_spec", "dataset_of", "load_run", "DTYPES"]

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
    """Seed Python's, numpy's and torch's global random streams (a launcher does it, before training)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def init_model(spec: ModelSpec, seed: int) -> GraphNet:
    """The network of ``spec`` with weights drawn from ``seed``; the global random state is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return GraphNet(spec)


def dataset_of(config: Config, *, progress: bool = True) -> Dataset:
    """The dataset ``config.data`` names, with its positional encoding."""
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
        smiles_column=d.smiles_column,
        targets=d.targets,
        task=d.task,
        split=d.split,
        featurisation=d.featurisation,
        progress=progress,
    )
    if d.pe != "none":
        data.splits = encode_splits(data.splits, d.pe, d.pe_dim, d.resolved_cache_dir(), name=data.name)
    return data


def model_spec(config: Config, data: Dataset) -> ModelSpec:
    """The spec of the model section's options (every field of :class:`ModelOptions`) for ``data``."""
    m = config.model
    fields: dict[str, Any] = {f.name: getattr(m, f.name) for f in dataclasses.fields(ModelOptions)}
    fields |= {"out_dim": data.task.num_outputs, "level": data.task.level, "in_dim": data.in_dim}
    fields |= {"node_vocab": data.node_vocab, "last_edge_update": False}  # nothing reads the last layer's e'
    if m.edge_features:
        fields |= {"edge_in_dim": data.edge_in_dim, "edge_vocab": data.edge_vocab}
    if config.data.pe != "none":
        fields |= {"pe_dim": config.data.pe_dim, "pe_sign_flip": config.data.pe == "laplacian"}
    try:
        return ModelSpec(**fields)
    except ConfigError as err:
        raise ConfigError(f"{err} (dataset {data.name})") from None


@dataclass
class Experiment:
    """A dataset, a model for it and the objective of its task, all fixed by one config."""

    config: Config
    data: Dataset
    model: GraphNet
    objective: Objective

    @classmethod
    def build(cls, config: Config, *, progress: bool = True, spec: ModelSpec | None = None) -> Experiment:
        """``progress``: progress bars while a generated dataset is made (the CLI's ``--quiet`` turns them off).
        ``spec``: the model's spec as a run stored it (else derived from config and dataset); a dataset that does
        not fit it, or a config that differs from it, is refused (:class:`RunDirError` naming the field).

        The weights are drawn from ``train.seed`` alone (:func:`init_model`); the global random state is left
        as it was: a launcher seeds the training's random streams itself (:func:`seed_everything`)."""
        data = dataset_of(config, progress=progress)
        model = init_model(fitted_spec(spec, model_spec(config, data), data), config.train.seed)
        balance = balances_batches(config.train.class_weights, data.task.kind, data.task.balance_classes)
        metric = data.task.metric if config.train.metric == "auto" else config.train.metric
        check_metric(data.task.kind, metric)
        objective = Objective(data.task.kind, metric, balance_batches=balance)
        return cls(config, data, model.to(DTYPES[config.train.dtype]), objective)

    @classmethod
    def of_run(
        cls, run: RunDir, config: Config, *, progress: bool = True, spec: dict[str, Any] | None = None
    ) -> Experiment:
        """The experiment of an existing run, its model built from the spec stored with it (``spec``, else summary.json's);
        a run written before specs were stored gets the spec derived from config and dataset, as a new run."""
        fields = spec if spec is not None else run.stored_spec()
        try:
            return cls.build(config, progress=progress, spec=None if fields is None else spec_from_fields(fields))
        except RunDirError as err:
            raise RunDirError(f"{run.path}: {err}") from None

    def loader(self, split: str, *, shuffle: bool = False, world: World | None = None) -> DataLoader | NeighbourSampler:
        """Batches of ``split``; with ``world``, this process's shard of each epoch (``batch_size / world.size`` graphs a step;
        :func:`gatedgcn.app.launch.check_nproc` has checked that it divides);
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
            fanouts, layers = [int(f) for f in t.fanout.split(",")], self.model.spec.layers
            if len(fanouts) < layers:
                warnings.warn(
                    f"train.fanout {t.fanout!r} has {len(fanouts)} value(s) for {layers} layers: a sampled subgraph "
                    f"reaches {len(fanouts)} hop(s) from its seeds, so the last layers see no sender beyond them "
                    "(give one value per layer)",
                    stacklevel=2,
                )
            return NeighbourSampler(graphs[0], fanouts, t.batch_size, seed=t.seed, collate_fn=collate_fn)
        if world is None:
            return DataLoader(
                self.data.splits[split],  # type: ignore[arg-type]  # a list is a map-style dataset
                batch_size=t.batch_size,
                shuffle=shuffle,
                collate_fn=collate_fn,
                generator=generator,
            )
        sampler = ShardSampler(len(self.data.splits[split]), world, seed=t.seed, shuffle=shuffle)
        return DataLoader(
            self.data.splits[split],  # type: ignore[arg-type]  # a list is a map-style dataset
            batch_size=t.batch_size // world.size,
            sampler=sampler,
            collate_fn=collate_fn,
            generator=generator,
        )

    def eval_loaders(self) -> dict[str, DataLoader | NeighbourSampler]:
        return {name: self.loader(name) for name in ("val", "test") if self.data.splits.get(name)}

    def trainer(
        self, *, progress: bool, callbacks: tuple = (), detect_anomaly: bool = False, world: World | None = None
    ) -> Trainer:
        """The trainer of :attr:`model` (not changed: with ``train.sync_batch_norm`` the launcher builds the
        experiment of the synchronised model first); with ``world``, the model is wrapped in
        ``DistributedDataParallel`` and the epoch's metrics join all processes."""
        t = self.config.train
        schedule = Schedule(
            t.epochs,
            t.lr,
            t.weight_decay,
            t.lr_factor,
            t.lr_patience,
            t.min_lr,
            t.time_budget_s,
            optimizer=t.optimizer,
            schedule=t.schedule,
            warmup_epochs=t.warmup_epochs,
            clip_grad_norm=t.clip_grad_norm,
        )
        if t.keep_freed_memory:
            keep_freed_memory()  # the whole process's heap: set here, where the run owns the process
        unused = bool(self.model.unused_parameters())  # True only where a parameter is unused: else torch warns
        model = self.model if world is None else DistributedDataParallel(self.model, find_unused_parameters=unused)
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
            params=self.parameter_groups(),
            threads=free_cores if t.adapt_threads else None,  # no more threads than the cores left free
        )

    def parameter_groups(self) -> list[dict] | None:
        """``train.weight_decay_layers=first``: weight decay on the first layer's weights only (Kipf & Welling)."""
        if self.config.train.weight_decay_layers == "all":
            return None
        first = {id(p) for p in self.model.first_layer_parameters()}
        rest = [p for p in self.model.parameters() if id(p) not in first]
        return [
            {"params": self.model.first_layer_parameters(), "weight_decay": self.config.train.weight_decay},
            {"params": rest, "weight_decay": 0.0},
        ]

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


def load_run(run_dir: str | Path) -> tuple[RunDir, Experiment]:
    """A trained run: its directory, and its experiment with the model rebuilt from the stored spec (for older
    runs: derived from config and dataset) and the saved weights loaded."""
    run = RunDir.open(run_dir)
    exp = Experiment.of_run(run, Config.load(run.config_path))
    run.load_weights(exp.model)
    return run, exp
