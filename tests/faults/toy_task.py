"""A model-agnostic toy task for the trainer's faults: rows of 3 features, ``Linear -> BatchNorm``, 2 classes."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from gatedgcn.train.objective import Objective
from gatedgcn.train.trainer import Schedule, Trainer


@dataclass
class Rows:
    x: Tensor
    y: Tensor
    poison_grad: bool = False

    def to(self, device):
        return self


class Toy(nn.Module):
    """``Linear -> BatchNorm``; a batch marked ``poison_grad`` gets an infinite gradient from a finite loss."""

    def __init__(self) -> None:
        super().__init__()
        self.lin, self.bn = nn.Linear(3, 2), nn.BatchNorm1d(2)

    def forward(self, batch: Rows) -> Tensor:
        h = self.lin(batch.x)  # [R, 2]
        if batch.poison_grad and h.requires_grad:
            h.register_hook(lambda g: g * float("inf"))
        return self.bn(h)


def rows(seed: int, *, nan: bool = False, poison_grad: bool = False) -> Rows:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(6, 3, generator=g)
    if nan:
        x[2, 1] = float("nan")
    return Rows(x, torch.randint(0, 2, (6,), generator=g), poison_grad)


def toy_trainer(**options) -> Trainer:
    torch.manual_seed(3)
    return Trainer(
        Toy(), Objective("classification", "accuracy"), Schedule(epochs=1, lr=0.1), progress=False, **options
    )


def states_equal(a: nn.Module, b: nn.Module) -> None:
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), name
