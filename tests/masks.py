"""Dropout with a mask fixed by the test, so that a dense reference can apply the very same mask."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class FixedMask(nn.Module):
    """``x · mask / (1 - p)`` in training (the inverted dropout of ``nn.Dropout`` with a given mask), ``x`` in eval."""

    def __init__(self, mask: Tensor, p: float) -> None:
        super().__init__()
        self.mask, self.p = mask, p

    def forward(self, x: Tensor) -> Tensor:
        assert x.shape == self.mask.shape, (list(x.shape), list(self.mask.shape))
        return x * self.mask / (1 - self.p) if self.training else x


def bernoulli_mask(shape: tuple[int, ...], p: float, seed: int) -> Tensor:
    """A float64 0/1 mask keeping each entry with probability ``1 - p``."""
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=g, dtype=torch.float64) >= p).double()
