"""The optimiser and how its learning rate moves per epoch: Adam or AdamW, ReduceLROnPlateau or cosine with
linear warm-up, gradient clipping, and the stopping rules of a schedule (epochs, min_lr, a time budget)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["OPTIMIZERS", "SCHEDULES", "Schedule"]

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
