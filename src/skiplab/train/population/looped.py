"""The "loop" strategy: each model's own TrainStep in turn within each step. No stacking, so bit-identical to
separate runs; the CPU's choice (see the package doc)."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ...errors import ConfigError
from ..step import TrainStep
from .rng import RANDOM, rng_state


class LoopStep:
    """PopulationStep's interface over the models' own TrainSteps, one after another in each step: no stacking, so
    bit-identical to separate runs, and as fast as they are. The CPU's choice: there each model's convolutions
    already keep every core busy, and the stacked (grouped) convolutions of vmap are slower than N dense ones
    (benchmarks/population.py)."""

    def __init__(self, templates: Sequence[TrainStep]) -> None:
        self.templates = list(templates)
        self.slots = list(range(len(self.templates)))
        self.checked = False

    @property
    def n(self) -> int:
        return len(self.slots)

    def reset(self) -> None:
        for i in self.slots:
            self.templates[i].model.train()
            self.templates[i].reset()

    def __call__(self, xs: Sequence[torch.Tensor], ys: Sequence[torch.Tensor], step: int) -> None:
        for i, x, y in zip(self.slots, xs, ys):
            if not self.checked:  # a separate run draws from the global RNG in its own order; N interleaved cannot
                before = rng_state(self.templates[i].device)
                self.templates[i](x, y, step)
                if any(not torch.equal(a, b) for a, b in zip(before, rng_state(self.templates[i].device))):
                    raise ConfigError(RANDOM)
                self.checked = True
            else:
                self.templates[i](x, y, step)

    def read(self) -> tuple[list[float], list[float], list[int]]:
        loss, err, bad = zip(*(self.templates[i].read() for i in self.slots)) if self.slots else ((), (), ())
        return list(loss), list(err), list(bad)

    def unstack(self, j: int, template: TrainStep) -> None:
        pass  # each model trains in place

    def restack(self, j: int, model: nn.Module) -> None:
        pass  # the callbacks ran on the model that trains

    def keep(self, entries: list[int]) -> None:
        self.slots = [self.slots[j] for j in entries]
