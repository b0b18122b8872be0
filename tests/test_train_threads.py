"""The trainer runs each step on the threads its ``threads`` callable allows (gatedgcn.train.threads): never more
than torch's count at the start of the epoch, at least one, and torch's count restored after the epoch."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gatedgcn.train.objective import Objective
from gatedgcn.train.trainer import Schedule, Trainer


class Rows:
    """A batch of rows with a target, as the trainer takes it."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y

    def to(self, device):
        return self


class Seen(nn.Module):
    """A linear model that records torch's thread count at each forward."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(3, 1)
        self.threads: list[int] = []

    def forward(self, batch):
        self.threads.append(torch.get_num_threads())
        return self.lin(batch.x)


@pytest.mark.parametrize("allowed, expected", [([1, 2, 1], [1, 2, 1]), ([5, 0, 2], [2, 1, 2])])
def test_each_step_runs_on_the_threads_allowed_then_the_count_is_restored(two_threads, allowed, expected):
    g = torch.Generator().manual_seed(0)
    loader = [Rows(torch.randn(4, 3, generator=g), torch.randn(4, 1, generator=g)) for _ in range(3)]
    answers = iter(allowed)
    model = Seen()
    trainer = Trainer(
        model, Objective("regression", "mae"), Schedule(lr=1e-2), progress=False, threads=lambda: next(answers)
    )
    trainer.run_epoch(loader, train=True)
    assert model.threads == expected  # at most torch's 2 at the epoch's start, at least 1
    assert torch.get_num_threads() == 2


def test_without_a_threads_callable_torchs_count_stays(two_threads):
    loader = [Rows(torch.randn(4, 3), torch.randn(4, 1)) for _ in range(2)]
    model = Seen()
    Trainer(model, Objective("regression", "mae"), Schedule(lr=1e-2), progress=False).run_epoch(loader, train=True)
    assert model.threads == [2, 2]
