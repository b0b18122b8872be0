"""A model-agnostic trainer: whole-split metrics, callbacks, exact resume, non-finite steps skipped.

It knows a model (``model(batch) -> out``), batches (``batch.to(device)``, ``batch.y``) and an
:class:`~gatedgcn.train.objective.Objective`; nothing about graphs.  How the lr moves is a
:class:`~gatedgcn.train.schedule.Schedule`.  Where a fit stands is a :class:`~gatedgcn.train.position.Position`;
with the modules' states it is :meth:`Trainer.state_dict`, which a ``save`` hook (e.g.
:class:`~gatedgcn.train.checkpoint.Checkpointer`) writes after steps and epochs.
A step whose loss or gradient is not finite is skipped (no update, batch-norm buffers restored).
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sized
from dataclasses import fields
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from gatedgcn.errors import TrainingError, TrainingInterrupted
from gatedgcn.train.objective import Objective
from gatedgcn.train.position import EpochRecord, Gather, Position
from gatedgcn.train.rng import rng_state, set_rng_state
from gatedgcn.train.schedule import OPTIMIZERS, SCHEDULES, Schedule
from gatedgcn.train.threads import thread_count

__all__ = ["OPTIMIZERS", "SCHEDULES", "Schedule", "Trainer", "EpochRecord", "Position", "rng_state", "set_rng_state"]

SaveHook = Callable[["Trainer", str], None]  # (trainer, "step" | "epoch" | "stop")


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
        threads: Callable[[], int] | None = None,
    ) -> None:
        """``model`` may be wrapped in ``DistributedDataParallel``; then ``gather`` joins the training rows of
        all processes for the epoch's metrics, and states and evaluation use the wrapped module.
        ``predict(module, batch)`` computes evaluation outputs (default: ``module(batch)``), e.g. layer by layer.
        ``params``: the optimiser's parameter groups (default: every parameter, at the schedule's weight decay).
        ``threads``: the CPU threads a step may use now, asked before each (:mod:`gatedgcn.train.threads`; None: torch's)."""
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
        self.threads = threads
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
        sampler: Any = getattr(loader, "sampler", None)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(pos.epoch)  # an order drawn per epoch (sharded across processes)
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
        total = len(loader) if isinstance(loader, Sized) else None
        with thread_count(self.threads, self.device) as fit_threads:
            for batch in tqdm(
                batches, desc=desc, leave=False, disable=not self.progress, unit="batch", initial=pos.step, total=total
            ):
                fit_threads()
                self._train_step(batch, save, should_stop)
        return pos.scores(self.objective, self.gather)

    def _train_step(self, batch: Any, save: SaveHook | None, should_stop: Callable[[], int]) -> None:
        """One step of :meth:`_train_epoch`: the update, the count of skipped steps, the step's save."""
        pos = self.position
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
        budget_end, spent_before = self._budget()
        with epochs, anomaly:
            while not spent_before and self._epochs_left():
                record = self._fit_epoch(train_loader, eval_loaders, save, should_stop)
                epochs.update(1)
                epochs.set_postfix(
                    {f"{k}_{self.objective.metric}": f"{record[k][self.objective.metric]:.3f}" for k in eval_loaders}
                    | {"loss": f"{record['train']['loss']:.3f}"}
                )
                for callback in self.callbacks:
                    callback(record)
                self._save_or_stop(save, "epoch", should_stop)
                if time.perf_counter() >= budget_end:
                    break
        return pos.history

    def _budget(self) -> tuple[float, bool]:
        """When the time budget ends (a ``perf_counter`` time; inf: no budget), and whether a resumed run had
        passed it already (resumed after the epoch that passed it).  The epochs before a resume count too."""
        budget, pos = self.schedule.time_budget_s, self.position
        spent = sum(record.get("seconds", 0.0) for record in pos.history)
        end = time.perf_counter() + budget - spent if budget > 0 else float("inf")
        return end, budget > 0 and spent >= budget and pos.step == 0

    def _epochs_left(self) -> bool:
        """An epoch is left to run: not past ``epochs``, and the plateau schedule's lr not below ``min_lr``."""
        pos, schedule = self.position, self.schedule
        return pos.epoch <= schedule.epochs and not (
            pos.history and schedule.schedule == "plateau" and self.lr < schedule.min_lr
        )

    def _fit_epoch(
        self,
        train_loader: Iterable,
        eval_loaders: Mapping[str, Iterable],
        save: SaveHook | None,
        should_stop: Callable[[], int],
    ) -> EpochRecord:
        """One epoch of :meth:`fit`: train, evaluate, step the lr schedule, and move the position to the next."""
        pos = self.position
        start, lr = time.perf_counter(), self.lr
        try:
            train = self._train_epoch(train_loader, desc=f"epoch {pos.epoch}", save=save, should_stop=should_stop)
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
        return record
