"""Where a fit stands (:class:`Position`): the epoch and step, the running sums of the epoch, the best epoch, the
history of :data:`EpochRecord` s; a trainer's state and a checkpoint hold it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from gatedgcn.train.objective import Objective

__all__ = ["EpochRecord", "Gather", "Position"]

EpochRecord = dict  # {"epoch", "lr", "seconds", "skipped", "train": {"loss", metric}, "val": {...}, ...}
Gather = Callable[
    [float, int, list, list], tuple[float, int, list, list]
]  # (loss_sum, count, outs, ys) of every process


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
