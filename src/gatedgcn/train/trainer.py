"""A model-agnostic trainer: Adam or AdamW, ReduceLROnPlateau or cosine with warm-up, gradient clipping,
whole-split metrics, callbacks, exact resume.

It knows a model (``model(batch) -> out``), batches (``batch.to(device)``, ``batch.y``) and an
:class:`~gatedgcn.train.objective.Objective`; nothing about graphs.  Where a fit stands is a
:class:`Position`; with the modules' states it is :meth:`Trainer.state_dict`, which a ``save``
hook (e.g. :class:`~gatedgcn.train.checkpoint.Checkpointer`) writes after steps and epochs.
A step whose loss or gradient is not finite is skipped (no update, batch-norm buffers restored).
"""

from __future__ import annotations

import contextlib
import math
import random
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from gatedgcn.errors import TrainingError, TrainingInterrupted
from gatedgcn.train.objective import Objective

__all__ = ["OPTIMIZERS", "SCHEDULES", "Schedule", "Trainer", "EpochRecord", "Position", "rng_state", "set_rng_state"]

EpochRecord = dict  # {"epoch", "lr", "seconds", "skipped", "train": {"loss", metric}, "val": {...}, ...}
SaveHook = Callable[["Trainer", str], None]  # (trainer, "step" | "epoch" | "stop")
Gather = Callable[
    [float, int, list, list], tuple[float, int, list, list]
]  # (loss_sum, count, outs, ys) of every process


OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}  # adam: L2 weight decay; adamw: decoupled
SCHEDULES = ("plateau", "cosine")


@dataclass(frozen=True)
class Schedule:
    """The optimiser (``optimizer``: Adam or AdamW, at ``lr`` with ``weight_decay``) and how its lr moves per epoch.

    ``plateau``: the lr is multiplied by ``lr_factor`` after ``lr_patience`` epochs without a better monitored loss
    (validation, else training), and training stops once it falls below ``min_lr``.  ``cosine``: in epoch
    ``t = 0, 1, …`` the lr is ``lr · (t + 1) / (w + 1)`` for ``t < w = warmup_epochs`` (linear warm-up), then
    ``lr · ½ (1 + cos(π (t - w) / (epochs - w)))`` (``min_lr`` does not stop it).  ``clip_grad_norm > 0``: the
    gradients are scaled to that total 2-norm at most before each update.  Training stops after ``epochs``, or after
    the epoch that passes ``time_budget_s`` seconds of training (0: none; the finished epochs of a resumed run count,
    as their ``seconds`` in the history)."""

    epochs: int = 40
    lr: float = 1e-4
    weight_decay: float = 0.0
    lr_factor: float = 0.5
    lr_patience: int = 10
    min_lr: float = 1e-6
    time_budget_s: float = 0.0
    optimizer: str = "adam"
    schedule: str = "plateau"
    warmup_epochs: int = 0
    clip_grad_norm: float = 0.0

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.schedule == "cosine" and not 0 <= self.warmup_epochs < self.epochs:
            raise ValueError(f"warmup_epochs must be in [0, epochs={self.epochs}), got {self.warmup_epochs}")
        if self.clip_grad_norm < 0:
            raise ValueError(f"clip_grad_norm must be >= 0 (0: no clipping), got {self.clip_grad_norm}")

    def cosine_factor(self, t: int) -> float:
        """The lr of 0-based epoch ``t`` over ``lr`` under the cosine schedule with linear warm-up."""
        w = self.warmup_epochs
        if t < w:
            return (t + 1) / (w + 1)
        return 0.5 * (1.0 + math.cos(math.pi * min(t - w, self.epochs - w) / (self.epochs - w)))


def rng_state() -> dict[str, Any]:
    """The Python, NumPy and torch RNG states, as plain values and tensors (loadable with weights_only)."""
    np_state = np.random.get_state(legacy=False)
    state = {
        "python": random.getstate(),
        "numpy": {
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    random.setstate(state["python"])
    n = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": "MT19937",
            "state": {"key": n["key"].numpy().astype(np.uint32), "pos": n["pos"]},
            "has_gauss": n["has_gauss"],
            "gauss": n["gauss"],
        }
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state:
        torch.cuda.set_rng_state_all(state["cuda"])


@dataclass
class Position:
    """Where a fit stands: the epoch being run (1-based) and the batches of it done, the running
    sums of that epoch, the shuffle generator's state at its start, the best epoch so far, the
    history, and (in a loaded state) the RNG states to restore once the loader is back at ``step``."""

    epoch: int = 1
    step: int = 0
    sampler: Tensor | None = None  # the train loader's generator state at the start of the epoch
    loss_sum: float = 0.0
    count: int = 0
    outs: list[Tensor] = field(default_factory=list)
    ys: list[Tensor] = field(default_factory=list)
    skipped: int = 0  # non-finite steps skipped in this epoch
    bad_in_row: int = 0  # non-finite steps in a row (across epochs)
    best: float | None = None  # best monitored score (validation metric, else training metric)
    best_epoch: int = 0
    history: list[EpochRecord] = field(default_factory=list)
    rng: dict[str, Any] | None = None

    def add(self, loss: Tensor, out: Tensor, y: Tensor) -> None:
        count = int(y.shape[0])
        self.loss_sum += float(loss.detach()) * count
        self.count += count
        self.outs.append(out.detach().cpu())
        self.ys.append(y.detach().cpu())

    def scores(self, objective: Objective, gather: Gather | None = None) -> dict[str, float]:
        """Mean loss and metric of the rows so far (with ``gather``: of every process's rows)."""
        loss_sum, count, outs, ys = (
            (self.loss_sum, self.count, self.outs, self.ys)
            if gather is None
            else gather(self.loss_sum, self.count, self.outs, self.ys)
        )
        if count == 0:
            return {"loss": float("nan"), objective.metric: float("nan")}
        return {"loss": loss_sum / count, objective.metric: objective.score(torch.cat(outs), torch.cat(ys))}

    def next_epoch(self, record: EpochRecord, score: float, higher_is_better: bool, sampler: Tensor | None) -> None:
        self.history.append(record)
        if score == score and (
            self.best is None or (score > self.best if higher_is_better else score < self.best)
        ):  # NaN never best
            self.best, self.best_epoch = score, self.epoch
        self.epoch, self.step, self.sampler = self.epoch + 1, 0, sampler
        self.loss_sum, self.count, self.outs, self.ys, self.skipped = 0.0, 0, [], [], 0


class Trainer:
    def __init__(
        self,
        model: nn.Module,
        objective: Objective,
        schedule: Schedule,
        *,
        device: str | torch.device = "cpu",
        progress: bool = True,
        callbacks: Iterable[Callable[[EpochRecord], None]] = (),
        max_bad_steps: int = 5,
        detect_anomaly: bool = False,
        gather: Gather | None = None,
        predict: Callable[[nn.Module, Any], Tensor] | None = None,
        params: Iterable[Any] | None = None,
    ) -> None:
        """``model`` may be wrapped in ``DistributedDataParallel``; then ``gather`` joins the training rows of
        all processes for the epoch's metrics, and states and evaluation use the wrapped module.
        ``predict(module, batch)`` computes evaluation outputs (default: ``module(batch)``), e.g. layer by layer.
        ``params``: the optimiser's parameter groups (default: every parameter, at the schedule's weight decay)."""
        self.model = model.to(device)
        self.module = model.module if isinstance(model, DistributedDataParallel) else model
        self.gather = gather
        self.predict = predict
        self.objective = objective
        self.schedule = schedule
        self.device = torch.device(device)
        self.progress = progress
        self.callbacks = list(callbacks)
        self.max_bad_steps = max_bad_steps
        self.detect_anomaly = detect_anomaly
        self.position = Position()
        # fused: one kernel per parameter for the whole update (the for-loop form costs ~10 small ops per parameter,
        # about a tenth of a training step on a batch of molecules, docs/performance.md)
        self.optimizer = OPTIMIZERS[schedule.optimizer](
            model.parameters() if params is None else params,
            lr=schedule.lr,
            weight_decay=schedule.weight_decay,
            fused=True,
        )
        self.scheduler: torch.optim.lr_scheduler.LRScheduler | torch.optim.lr_scheduler.ReduceLROnPlateau = (
            torch.optim.lr_scheduler.LambdaLR(self.optimizer, schedule.cosine_factor)
            if schedule.schedule == "cosine"
            else torch.optim.lr_scheduler.ReduceLROnPlateau(
                self.optimizer, mode="min", factor=schedule.lr_factor, patience=schedule.lr_patience
            )
        )

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly: weights, optimizer, scheduler, position, RNG states."""
        pos = self.position
        joined = {
            "outs": [torch.cat(pos.outs)] if pos.outs else [],
            "ys": [torch.cat(pos.ys)] if pos.ys else [],
        }  # one tensor each
        position = {f.name: getattr(pos, f.name) for f in fields(pos)} | joined | {"rng": rng_state()}
        return {
            "model": self.module.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "position": position,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.module.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.position = Position(**state["position"])

    def run_epoch(self, loader: Iterable, *, train: bool, desc: str = "") -> dict[str, float]:
        """One pass over ``loader`` from its start; returns the mean loss per target and the metric of the whole split."""
        if train:
            self.position = Position(history=self.position.history)
            return self._train_epoch(loader, desc=desc)
        self.module.train(False)
        tally = Position()
        with torch.no_grad():
            for batch in tqdm(loader, desc=desc, leave=False, disable=not self.progress, unit="batch"):
                batch = batch.to(self.device)
                out = self.module(batch) if self.predict is None else self.predict(self.module, batch)
                tally.add(self.objective.loss(out, batch.y), out, batch.y)
        return tally.scores(self.objective)

    def evaluate(self, loaders: Mapping[str, Iterable]) -> dict[str, dict[str, float]]:
        return {name: self.run_epoch(loader, train=False, desc=name) for name, loader in loaders.items()}

    def _step(self, batch: Any) -> bool:
        """One update; ``False`` (and no update) when the loss or a gradient is not finite."""
        buffers = [b.clone() for b in self.model.buffers()]
        self.optimizer.zero_grad(set_to_none=True)
        out = self.model(batch)
        loss = self.objective.loss(out, batch.y)
        finite = bool(torch.isfinite(loss))
        # backward in any case, a non-finite loss made NaN: under DDP the gradients are averaged over the
        # processes, so a NaN anywhere reaches every process and all of them skip the step together
        (loss if finite else loss * float("nan")).backward()
        grads = [p.grad for p in self.model.parameters() if p.grad is not None]
        if finite and grads:
            flat = torch.cat([g.reshape(-1) for g in grads])  # every gradient value: [P]
            finite = bool(torch.isfinite(flat).all())  # one pass and one sync, not two ops per parameter
        if not finite:
            self.optimizer.zero_grad(set_to_none=True)
            with torch.no_grad():
                for b, saved in zip(self.model.buffers(), buffers):
                    b.copy_(saved)
            return False
        if self.schedule.clip_grad_norm > 0:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.schedule.clip_grad_norm)
        self.optimizer.step()
        self.position.add(loss, out, batch.y)
        return True

    def _train_epoch(
        self,
        loader: Iterable,
        *,
        desc: str = "",
        save: SaveHook | None = None,
        should_stop: Callable[[], int] = lambda: 0,
    ) -> dict[str, float]:
        pos = self.position
        if hasattr(getattr(loader, "sampler", None), "set_epoch"):
            loader.sampler.set_epoch(pos.epoch)  # an order drawn per epoch (sharded across processes)
        generator = getattr(loader, "generator", None)
        if generator is not None:
            if pos.sampler is None:
                pos.sampler = generator.get_state()
            generator.set_state(pos.sampler)
        self.model.train(True)
        batches = iter(loader)
        for _ in range(pos.step):  # replay the epoch's order up to the step the state was saved at
            next(batches)
        if pos.rng is not None:
            set_rng_state(pos.rng)
            pos.rng = None
        total = len(loader) if hasattr(loader, "__len__") else None
        for batch in tqdm(
            batches, desc=desc, leave=False, disable=not self.progress, unit="batch", initial=pos.step, total=total
        ):
            if self._step(batch.to(self.device)):
                pos.bad_in_row = 0
            else:
                pos.skipped, pos.bad_in_row = pos.skipped + 1, pos.bad_in_row + 1
                if self.detect_anomaly or pos.bad_in_row >= self.max_bad_steps:
                    raise TrainingError(
                        f"non-finite loss or gradient in {pos.bad_in_row} step(s) in a row (epoch {pos.epoch}, step {pos.step + 1}); "
                        "training stopped, the last checkpoint is kept. Try a lower train.lr, or --detect-anomaly to find the operation"
                    )
            pos.step += 1
            self._save_or_stop(save, "step", should_stop)
        return pos.scores(self.objective, self.gather)

    def _step_schedule(self, monitored_loss: float) -> None:
        """After an epoch: the plateau schedule reads the monitored loss, the cosine one only counts the epoch."""
        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.scheduler.step(monitored_loss)
            return
        with warnings.catch_warnings():  # a run resumed after the last step of an epoch steps the schedule first
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step\\(\\)` before")
            self.scheduler.step()

    def _save_or_stop(self, save: SaveHook | None, reason: str, should_stop: Callable[[], int]) -> None:
        signum = should_stop()
        if save is not None:
            save(self, "stop" if signum else reason)
        if signum:
            raise TrainingInterrupted(
                f"stopped by signal {signum} at epoch {self.position.epoch}, step {self.position.step}", signum
            )

    def fit(
        self,
        train_loader: Iterable,
        eval_loaders: Mapping[str, Iterable],
        *,
        save: SaveHook | None = None,
        should_stop: Callable[[], int] = lambda: 0,
    ) -> list[EpochRecord]:
        """Train for the schedule from :attr:`position`; after each epoch evaluate ``eval_loaders``, call the
        callbacks and ``save(trainer, "epoch")``.  ``should_stop()`` (a signal number, or 0) is polled after
        every step: when set, the trainer saves with reason ``"stop"`` and raises :class:`TrainingInterrupted`."""
        pos = self.position
        epochs = tqdm(
            total=self.schedule.epochs, initial=pos.epoch - 1, desc="epochs", disable=not self.progress, unit="epoch"
        )
        anomaly = torch.autograd.detect_anomaly() if self.detect_anomaly else contextlib.nullcontext()
        budget = self.schedule.time_budget_s
        spent = sum(record.get("seconds", 0.0) for record in pos.history)  # the epochs before a resume count too
        budget_end = time.perf_counter() + budget - spent if budget > 0 else float("inf")
        spent_before = budget > 0 and spent >= budget and pos.step == 0  # resumed after the epoch that passed it
        with epochs, anomaly:
            while (
                not spent_before
                and pos.epoch <= self.schedule.epochs
                and not (pos.history and self.schedule.schedule == "plateau" and self.lr < self.schedule.min_lr)
            ):
                start, lr = time.perf_counter(), self.lr
                try:
                    train = self._train_epoch(
                        train_loader, desc=f"epoch {pos.epoch}", save=save, should_stop=should_stop
                    )
                except RuntimeError as err:
                    if not self.detect_anomaly or isinstance(err, TrainingError):
                        raise
                    raise TrainingError(f"anomaly in epoch {pos.epoch}, step {pos.step + 1}: {err}") from err
                record: EpochRecord = {"epoch": pos.epoch, "lr": lr, "skipped": pos.skipped, "train": train}
                record.update(self.evaluate(eval_loaders))
                record["seconds"] = time.perf_counter() - start
                self._step_schedule(record["val"]["loss"] if "val" in record else record["train"]["loss"])
                scored = record["val"] if "val" in record else record["train"]
                generator = getattr(train_loader, "generator", None)
                pos.next_epoch(
                    record,
                    scored[self.objective.metric],
                    self.objective.higher_is_better,
                    None if generator is None else generator.get_state(),
                )
                epochs.update(1)
                epochs.set_postfix(
                    {f"{k}_{self.objective.metric}": f"{record[k][self.objective.metric]:.3f}" for k in eval_loaders}
                    | {"loss": f"{train['loss']:.3f}"}
                )
                for callback in self.callbacks:
                    callback(record)
                self._save_or_stop(save, "epoch", should_stop)
                if time.perf_counter() >= budget_end:
                    break
        return pos.history
