"""The callback protocol the probes hook into, and the state and history a run exposes to them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .config import TrainConfig


@dataclass
class TrainState:
    """What a callback sees. Set `stop = True` to end training after the current step."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    cfg: TrainConfig
    device: torch.device
    run_dir: Path | None
    steps_per_epoch: int
    epoch: int = 0
    step: int = 0
    stop: bool = False


@dataclass
class History:
    """Per-epoch metrics (train loss/error over the epoch's batches; test loss/error when evaluated), and how the
    run ended: "finished", "stopped" (by a callback) or "diverged" (at `diverged_step`)."""

    epochs: list[dict[str, Any]] = field(default_factory=list)
    status: str = "running"
    diverged_step: int | None = None

    @property
    def final(self) -> dict[str, Any]:
        return self.epochs[-1] if self.epochs else {}

    def last(self, key: str) -> Any:
        for row in reversed(self.epochs):
            if key in row:
                return row[key]
        return None


class Callback:
    """Override what you need; every hook is a no-op by default."""

    def on_fit_start(self, state: TrainState) -> None:
        pass

    def on_step_end(self, state: TrainState) -> None:
        pass

    def on_epoch_end(self, state: TrainState, metrics: dict[str, Any]) -> None:
        pass

    def on_fit_end(self, state: TrainState, history: History) -> None:
        pass


class SaveWeightsAt(Callback):
    """Saves the model's state dict after `step` optimizer steps (0: at init, before any step) to `path`, once:
    the weights a lottery ticket rewinds to (Frankle et al. 2020). A resumed run that is already past `step` keeps
    the file it wrote; on the CPU a resumed run replays bit-identically, so writing it again would not change it."""

    def __init__(self, step: int, path: Path) -> None:
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        self.step, self.path = step, Path(path)

    def _save(self, state: TrainState) -> None:
        from .checkpoint import save_weights
        if state.step == self.step and not self.path.exists():
            save_weights(self.path, state.model, {"step": str(self.step)})

    def on_fit_start(self, state: TrainState) -> None:
        self._save(state)

    def on_step_end(self, state: TrainState) -> None:
        self._save(state)
