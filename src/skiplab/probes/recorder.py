"""`ProbeRecorder`: the callback that records a probe on a fixed batch while `fit` trains, shared by the
gradient-signal and alignment recorders."""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch.nn import functional as F

from ..train.callbacks import Callback, TrainState

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class ProbeRecorder(Callback):
    """Records `probe(model, x, y, loss)` in train mode (batch statistics, as training sees the net): at fit
    start (epoch 0 = initialization), at the end of every `every`-th epoch, and after the last epoch (so the
    trained net is always there).

    x: (N, *example_shape), y: (N,). `.records` is a list of {"epoch": e, <key>: dict} sorted by epoch, where e
    counts finished epochs; the caller persists it. When resuming, set `.records` to what was saved before
    `fit`: an epoch already recorded is never recomputed. Subclasses set `key` and `probe`.
    """

    key = ""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, every: int = 1, loss: Loss = F.cross_entropy) -> None:
        name = type(self).__name__
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"{name}: every must be an integer >= 1, got {every!r}")
        if x.dim() < 2 or x.shape[0] != y.shape[0] or x.shape[0] < 1:
            raise ValueError(f"{name} needs x of shape (N, *example_shape) and y of shape (N,)")
        self.x, self.y, self.every, self.loss = x, y, every, loss
        self.records: list[dict[str, Any]] = []

    def probe(self, model: Any, x: torch.Tensor, y: torch.Tensor, loss: Loss) -> dict[str, Any]:
        raise NotImplementedError

    def _record(self, state: TrainState, epoch: int) -> None:
        due = epoch % self.every == 0 or epoch == state.cfg.epochs
        if not due or any(r["epoch"] == epoch for r in self.records):
            return
        model, was_training = state.model, state.model.training
        model.train()
        try:
            result = self.probe(model, self.x.to(state.device), self.y.to(state.device), self.loss)
        finally:
            model.train(was_training)
        self.records.append({"epoch": epoch, self.key: result})
        self.records.sort(key=lambda r: r["epoch"])

    def on_fit_start(self, state: TrainState) -> None:
        # A fresh run starts at epoch 0 (initialization); a resumed one at its last finished epoch, whose weights
        # are those the record of that epoch saw, so computing a missing record there is still correct.
        self._record(state, state.epoch)

    def on_epoch_end(self, state: TrainState, metrics: dict[str, Any]) -> None:
        self._record(state, int(metrics["epoch"]))
