"""A model-agnostic trainer: Adam, ReduceLROnPlateau, whole-split metrics, callbacks.

It knows a model (``model(batch) -> out``), batches (``batch.to(device)``, ``batch.y``) and an
:class:`~gatedgcn.train.objective.Objective`; nothing about graphs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

import torch
from torch import nn
from tqdm.auto import tqdm

from gatedgcn.train.objective import Objective

__all__ = ["Schedule", "Trainer", "EpochRecord"]

EpochRecord = dict  # {"epoch", "lr", "seconds", "train": {"loss", metric}, "val": {...}, ...}


@dataclass(frozen=True)
class Schedule:
    """Adam at ``lr``; the lr is multiplied by ``lr_factor`` after ``lr_patience`` epochs without a
    better monitored loss (validation, else training); training stops after ``epochs`` or when the
    lr falls below ``min_lr``."""

    epochs: int = 40
    lr: float = 1e-4
    weight_decay: float = 0.0
    lr_factor: float = 0.5
    lr_patience: int = 10
    min_lr: float = 1e-6


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
    ) -> None:
        self.model = model.to(device)
        self.objective = objective
        self.schedule = schedule
        self.device = torch.device(device)
        self.progress = progress
        self.callbacks = list(callbacks)
        self.optimizer = torch.optim.Adam(model.parameters(), lr=schedule.lr, weight_decay=schedule.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer, mode="min", factor=schedule.lr_factor, patience=schedule.lr_patience
        )

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def run_epoch(self, loader: Iterable, *, train: bool, desc: str = "") -> dict[str, float]:
        """One pass over ``loader``; returns the mean loss per target and the metric of the whole split."""
        self.model.train(train)
        outs, ys = [], []
        total_loss, total_count = 0.0, 0
        bar = tqdm(loader, desc=desc, leave=False, disable=not self.progress, unit="batch")
        with torch.set_grad_enabled(train):
            for batch in bar:
                batch = batch.to(self.device)
                out = self.model(batch)
                loss = self.objective.loss(out, batch.y)
                if train:
                    self.optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    self.optimizer.step()
                count = int(batch.y.shape[0])
                total_loss += float(loss.detach()) * count
                total_count += count
                outs.append(out.detach().cpu())
                ys.append(batch.y.detach().cpu())
                bar.set_postfix(loss=f"{loss.item():.4f}")
        if total_count == 0:
            return {"loss": float("nan"), self.objective.metric: float("nan")}
        return {"loss": total_loss / total_count, self.objective.metric: self.objective.score(torch.cat(outs), torch.cat(ys))}

    def evaluate(self, loaders: Mapping[str, Iterable]) -> dict[str, dict[str, float]]:
        return {name: self.run_epoch(loader, train=False, desc=name) for name, loader in loaders.items()}

    def fit(self, train_loader: Iterable, eval_loaders: Mapping[str, Iterable]) -> list[EpochRecord]:
        """Train for the schedule; after each epoch evaluate ``eval_loaders`` and call the callbacks."""
        history: list[EpochRecord] = []
        epochs = tqdm(range(1, self.schedule.epochs + 1), desc="epochs", disable=not self.progress, unit="epoch")
        for epoch in epochs:
            start = time.perf_counter()
            lr = self.lr
            record: EpochRecord = {"epoch": epoch, "lr": lr, "train": self.run_epoch(train_loader, train=True, desc=f"epoch {epoch}")}
            record.update(self.evaluate(eval_loaders))
            record["seconds"] = time.perf_counter() - start
            monitored = record["val"]["loss"] if "val" in record else record["train"]["loss"]
            self.scheduler.step(monitored)
            history.append(record)
            epochs.set_postfix({f"{k}_{self.objective.metric}": f"{record[k][self.objective.metric]:.3f}" for k in eval_loaders} | {"loss": f"{record['train']['loss']:.3f}"})
            for callback in self.callbacks:
                callback(record)
            if self.lr < self.schedule.min_lr:
                break
        return history
