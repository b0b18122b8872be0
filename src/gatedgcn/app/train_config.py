"""The train section of a run's configuration: the schedule, batches, checkpoints, device and precision, sampling,
the loss's class weights and the metric that picks the best epoch.  Imports no torch."""

from __future__ import annotations

from dataclasses import dataclass

from gatedgcn.errors import ConfigError
from gatedgcn.options import check_options, option

__all__ = ["TrainConfig", "CLASS_WEIGHTS"]

CLASS_WEIGHTS = ("auto", "batch", "none")  # gatedgcn.train.objective.CLASS_WEIGHTS


@dataclass
class TrainConfig:
    epochs: int = option(40, "maximal number of epochs", low=1)
    batch_size: int = option(50, "graphs per batch", low=1)
    lr: float = option(1e-4, "initial Adam learning rate")
    weight_decay: float = option(0.0, "Adam weight decay (L2)")
    lr_factor: float = option(0.5, "ReduceLROnPlateau factor")
    lr_patience: int = option(10, "epochs without a better validation loss before the lr is reduced", low=0)
    min_lr: float = option(1e-6, "stop when the lr falls below this")
    seed: int = option(41, "seed of weights, shuffling and dropout")
    time_budget_s: float = option(0.0, "stop after the epoch that passes this many seconds of training (0: no limit)")
    device: str = option("cpu", "cpu, cuda or cuda:k")
    checkpoint_minutes: float = option(
        10.0, "a checkpoint after every epoch and, within one, every this many minutes (0: every step)"
    )
    keep_checkpoints: int = option(2, "K: the last K checkpoints are kept (and the best)", low=1)
    max_nonfinite_steps: int = option(
        5, "stop after this many steps in a row with a non-finite loss or gradient (each is skipped)", low=1
    )
    dtype: str = option(
        "float32", "float32 or float64: of the weights and the float features", choices=("float32", "float64")
    )
    adapt_threads: bool = option(
        True,
        "CPU: each step on no more of torch's threads than the cores other processes leave free (a busy neighbour "
        "stalls a thread without a core); false: torch's thread count throughout",
    )
    keep_freed_memory: bool = option(
        True,
        "glibc: memory freed between steps (blocks below 32 MiB, up to 256 MiB at the heap's top) stays in the process "
        "instead of being handed back to the OS and page-faulted in again by the next step (ops/heap.py)",
    )
    fanout: str = option(
        "",
        "one big graph: neighbour-sampled mini-batches of batch_size seed nodes, senders per layer, "
        'e.g. "15,10" ("": whole graph)',
    )
    inference_chunk: int = option(
        0,
        "evaluate a node task layer by layer, this many receivers at a time (0: whole graph; with fanout: 16384)",
        low=0,
    )
    sync_batch_norm: bool = option(
        False, "with several processes: batch statistics of the rows of all of them (SyncBatchNorm)"
    )
    optimizer: str = option(
        "adam", "adam (weight_decay as L2 in the gradient) or adamw (decoupled weight decay)", choices=("adam", "adamw")
    )
    schedule: str = option(
        "plateau",
        "lr schedule: plateau (lr_factor after lr_patience epochs; stop below min_lr) or cosine (per epoch, "
        "after warmup_epochs of linear warm-up, to 0 at epochs)",
        choices=("plateau", "cosine"),
    )
    warmup_epochs: int = option(
        0, "with schedule=cosine: epochs of linear warm-up, lr (t+1)/(w+1) of train.lr in epoch t", low=0
    )
    clip_grad_norm: float = option(
        0.0, "scale the gradients to this total 2-norm at most before each update (0: no clipping)", low=0.0
    )
    class_weights: str = option(
        "auto",
        "cross-entropy class weights: auto (the dataset's rule: batch for SBM, none otherwise), "
        "batch ((R - R_c)/R of each batch), none",
        choices=CLASS_WEIGHTS,
    )
    metric: str = option(
        "auto",
        "the metric that picks the best epoch: auto (the dataset's), mae, rmse, accuracy, weighted_accuracy, f1, "
        "rocauc or ap",
        choices=("auto", "mae", "rmse", "accuracy", "weighted_accuracy", "f1", "rocauc", "ap"),
    )
    weight_decay_layers: str = option(
        "all",
        "which weights train.weight_decay applies to: all, or first (the first layer's, as Kipf & Welling)",
        choices=("all", "first"),
    )

    def check(self) -> None:
        check_options(self, "train")
        if self.fanout and not all(f.strip().isdigit() and int(f) >= 1 for f in self.fanout.split(",")):
            raise ConfigError(
                "train.fanout must be positive integers separated by commas (one per layer, e.g. 15,10), "
                f"got {self.fanout!r}"
            )
        if not self.checkpoint_minutes >= 0:
            raise ConfigError(
                f"train.checkpoint_minutes must be >= 0 (0: after every step), got {self.checkpoint_minutes}"
            )
        if not self.lr > 0:
            raise ConfigError(f"train.lr must be > 0, got {self.lr}")
        if not 0 < self.lr_factor < 1:
            raise ConfigError(f"train.lr_factor must be in (0, 1), got {self.lr_factor}")
        if self.weight_decay < 0 or self.min_lr < 0:
            raise ConfigError("train.weight_decay and train.min_lr must be >= 0")
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            raise ConfigError(f"train.device must be 'cpu' or 'cuda[:k]', got {self.device!r}")
        if self.schedule == "cosine" and self.warmup_epochs >= self.epochs:
            raise ConfigError(
                f"train.warmup_epochs must be < train.epochs ({self.epochs}) with schedule=cosine, got {self.warmup_epochs}"
            )
