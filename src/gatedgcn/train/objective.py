"""Loss and metric of a task, on output and target tensors only (nothing here knows graphs)."""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor

from gatedgcn.errors import ConfigError
from gatedgcn.train.metrics import HIGHER_IS_BETTER, METRICS

__all__ = ["Objective"]


@dataclass(frozen=True)
class Objective:
    """``kind``: classification (cross-entropy, optional class weights) or regression (L1)."""

    kind: str
    metric: str
    class_weights: Tensor | None = None

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ConfigError(f"metric must be one of {sorted(METRICS)}, got {self.metric!r}")

    def loss(self, out: Tensor, y: Tensor) -> Tensor:
        if self.kind == "classification":
            w = None if self.class_weights is None else self.class_weights.to(out.device, out.dtype)
            return F.cross_entropy(out, y.long(), weight=w)
        return F.l1_loss(out.reshape(y.shape), y.to(out.dtype))

    def score(self, out: Tensor, y: Tensor) -> float:
        return METRICS[self.metric](out, y)

    @property
    def higher_is_better(self) -> bool:
        return HIGHER_IS_BETTER[self.metric]
