"""The global RNG in a population: each model's own stream of it, as its separate run would have.

A separate fit() run has the process's global RNG to itself: it starts where building its model left it (run_training:
`torch.manual_seed(seed)`, the init, `prepare`), resuming loads the checkpoint's, every checkpoint saves it, and a
callback that draws random numbers draws the run's own sequence. N models in one process share one global RNG, so
`RngStreams` keeps each model's state apart and swaps it in around everything of model i that reads or writes it:
its resume, its checkpoints and its callbacks. Training steps draw nothing (LoopStep checks, vmap refuses
randomness), so they need no stream."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Sequence

import torch

RngState = tuple[torch.Tensor, ...]

RANDOM = ("population: the model draws random numbers in its forward pass (dropout, stochastic depth); separate "
          "runs draw them from the global RNG one after another, which a population cannot reproduce: train these "
          "runs separately")


def rng_state(device: torch.device) -> RngState:
    """The global RNG state(s) a run on `device` uses: the CPU generator, and the device's on a GPU."""
    return (torch.get_rng_state(),) + ((torch.cuda.get_rng_state(device),) if device.type == "cuda" else ())


def set_rng_state(device: torch.device, state: RngState) -> None:
    torch.set_rng_state(state[0])
    if device.type == "cuda" and len(state) > 1:
        torch.cuda.set_rng_state(state[1], device)


class RngStreams:
    """Model i's global RNG state between its turns. `starts[i]` is the state its separate run would start fit()
    with (run_population captures it after building model i); None: every model starts from the global state at
    construction, as N fit() calls each started from it would."""

    def __init__(self, device: torch.device, n: int, starts: Sequence[RngState | None] | None = None) -> None:
        self.device = device
        now = rng_state(device)
        if starts is None:
            starts = [None] * n
        self.states = [tuple(s) if s is not None else now for s in starts]

    @contextmanager
    def of(self, i: int) -> Iterator[None]:
        """Model i's stream is the global RNG inside; what it draws there stays in its stream."""
        set_rng_state(self.device, self.states[i])
        try:
            yield
        finally:
            self.states[i] = rng_state(self.device)

    def leave(self, i: int) -> None:
        """The global RNG set to model i's stream (the last model's at the end: as if the runs had trained one
        after another)."""
        set_rng_state(self.device, self.states[i])
