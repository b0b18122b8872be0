"""Optimisers (Adam, AdamW), schedules (plateau, cosine with warm-up) and gradient clipping of the trainer:
each against its formula written out here, and each continued exactly from a state saved mid-epoch."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from gatedgcn.errors import TrainingInterrupted
from gatedgcn.train.objective import Objective
from gatedgcn.train.trainer import Schedule, Trainer


@dataclass
class Rows:
    x: Tensor
    y: Tensor

    def to(self, device):
        return self


def _collate(items: list[tuple[Tensor, Tensor]]) -> Rows:
    return Rows(torch.stack([x for x, _ in items]), torch.stack([y for _, y in items]))


class Toy(nn.Module):
    """``Linear -> BN -> ReLU -> Dropout -> Linear``: randomness in training, buffers, several parameters."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 1))

    def forward(self, batch: Rows) -> Tensor:
        return self.net(batch.x).squeeze(-1)  # [R]


def _loader(shuffle: bool = True) -> DataLoader:
    g = torch.Generator().manual_seed(5)
    x = torch.randn(40, 4, generator=g)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 0.0]) + 0.1 * torch.randn(40, generator=g)
    data = list(zip(x, y))
    return DataLoader(
        data, batch_size=8, shuffle=shuffle, collate_fn=_collate, generator=torch.Generator().manual_seed(1)
    )


def _trainer(schedule: Schedule) -> Trainer:
    torch.manual_seed(3)
    return Trainer(Toy(), Objective("regression", "mae"), schedule, progress=False)


OPTIONS = {
    "adam-plateau": Schedule(epochs=6, lr=0.05, lr_patience=0, lr_factor=0.5),
    "adamw-cosine-warmup": Schedule(
        epochs=6, lr=0.05, optimizer="adamw", weight_decay=0.1, schedule="cosine", warmup_epochs=2
    ),
    "adam-clip": Schedule(epochs=6, lr=0.05, clip_grad_norm=0.05),
    "adamw-cosine-clip": Schedule(
        epochs=6, lr=0.05, optimizer="adamw", weight_decay=0.01, schedule="cosine", clip_grad_norm=0.1
    ),
}


def test_cosine_schedule_with_warmup_sets_the_lr_of_each_epoch_by_the_formula():
    trainer = _trainer(Schedule(epochs=6, lr=1.0, schedule="cosine", warmup_epochs=2))
    history = trainer.fit(_loader(), {})
    expected = [1 / 3, 2 / 3, 1.0, 0.5 * (1 + math.cos(math.pi / 4)), 0.5, 0.5 * (1 + math.cos(3 * math.pi / 4))]
    assert [r["lr"] for r in history] == pytest.approx(expected, rel=1e-12)
    assert len(history) == 6  # the cosine's small last lrs do not stop it at min_lr


def test_cosine_without_warmup_starts_at_the_full_lr():
    history = _trainer(Schedule(epochs=4, lr=0.2, schedule="cosine")).fit(_loader(), {})
    assert [r["lr"] for r in history] == pytest.approx([0.2 * 0.5 * (1 + math.cos(math.pi * t / 4)) for t in range(4)])


def test_adamw_decays_the_weights_apart_from_the_gradient_and_adam_adds_them_to_it():
    """With a zero gradient, AdamW's update is exactly ``-lr · wd · p``; Adam's L2 term goes through the moments."""
    for name, expected in (("adamw", lambda p: p - 0.1 * 0.5 * p), ("adam", lambda p: p - 0.1 * torch.sign(p))):
        torch.manual_seed(0)
        model = nn.Linear(3, 1)
        trainer = Trainer(
            model, Objective("regression", "mae"), Schedule(lr=0.1, weight_decay=0.5, optimizer=name), progress=False
        )
        before = [p.detach().clone() for p in model.parameters()]
        trainer.optimizer.zero_grad()
        (0.0 * sum(p.sum() for p in model.parameters())).backward()  # gradients of 0
        trainer.optimizer.step()
        for p, b in zip(model.parameters(), before):
            assert torch.allclose(p.detach(), expected(b), atol=1e-6), name


def test_clipping_scales_the_total_gradient_norm_to_the_limit_before_each_update(monkeypatch):
    trainer = _trainer(Schedule(epochs=1, lr=0.05, clip_grad_norm=0.05))
    norms, real = [], trainer.optimizer.step

    def step(*args, **kwargs):
        grads = [p.grad.flatten() for p in trainer.model.parameters() if p.grad is not None]
        norms.append(float(torch.cat(grads).norm()))
        return real(*args, **kwargs)

    monkeypatch.setattr(trainer.optimizer, "step", step)
    trainer.fit(_loader(), {})
    assert len(norms) == 5 and all(n == pytest.approx(0.05, rel=1e-5) for n in norms)  # every raw norm is above 0.05


def test_schedule_refuses_unknown_optimizer_schedule_and_bad_warmup():
    with pytest.raises(ValueError, match="optimizer"):
        Schedule(optimizer="sgd")
    with pytest.raises(ValueError, match="schedule"):
        Schedule(schedule="step")
    with pytest.raises(ValueError, match="warmup_epochs"):
        Schedule(epochs=3, schedule="cosine", warmup_epochs=3)
    with pytest.raises(ValueError, match="clip_grad_norm"):
        Schedule(clip_grad_norm=-1.0)


@pytest.mark.parametrize("name", list(OPTIONS))
@pytest.mark.parametrize("stop_at", [3, 13, 22])
def test_each_option_resumes_exactly_from_a_state_saved_mid_epoch(name, stop_at):
    schedule = OPTIONS[name]
    straight = _trainer(schedule)
    straight.fit(_loader(), {"val": _loader(shuffle=False)})

    first, saved, steps = _trainer(schedule), {}, [0]

    def save(trainer: Trainer, reason: str) -> None:
        if reason == "stop":
            saved["state"] = trainer.state_dict()

    def should_stop() -> int:
        steps[0] += 1
        return 15 if steps[0] == stop_at else 0

    with pytest.raises(TrainingInterrupted):
        first.fit(_loader(), {"val": _loader(shuffle=False)}, save=save, should_stop=should_stop)
    torch.manual_seed(1234)  # whatever the process did in between
    resumed = _trainer(schedule)
    resumed.load_state_dict(saved["state"])
    resumed.fit(_loader(), {"val": _loader(shuffle=False)})
    for (key, a), (_, b) in zip(straight.model.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.equal(a, b), (name, key)
    assert [r["lr"] for r in straight.position.history] == [r["lr"] for r in resumed.position.history]
    assert [r["val"] for r in straight.position.history] == [r["val"] for r in resumed.position.history]
