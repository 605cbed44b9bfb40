"""The number of function evaluations (NFE) of a net's ODE blocks through training (Chen et al. 2018, Fig. 3)."""

from __future__ import annotations

from typing import Any

from ..models.families.odenet import ode_blocks
from ..train import Callback, TrainState


class NFECallback(Callback):
    """Per epoch: the mean forward and backward NFE per training solve of every ODE block. `.records` is a list of
    {"epoch", "forward", "backward"}; the caller persists it (one backward pass per training solve, so both are
    per training step). A net without ODE blocks records nothing."""

    def __init__(self) -> None:
        self.records: list[dict[str, float]] = []

    def on_fit_start(self, state: TrainState) -> None:
        self.blocks = ode_blocks(state.model)
        for b in self.blocks:
            b.reset_nfe()

    def on_epoch_end(self, state: TrainState, metrics: dict[str, Any]) -> None:
        if not self.blocks:
            return
        solves = sum(b.solves for b in self.blocks)
        fwd, bwd = sum(b.nfe_forward for b in self.blocks), sum(b.nfe_backward for b in self.blocks)
        self.records.append({"epoch": metrics["epoch"], "forward": fwd / max(1, solves),
                             "backward": bwd / max(1, solves)})
        for b in self.blocks:
            b.reset_nfe()
