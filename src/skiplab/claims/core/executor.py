"""Executors: how the engine's `execute` gets a wave of jobs trained. `LocalExecutor` trains them in this machine's
process pool (pool.parallel); `RayExecutor` (ray_executor.py) submits each as a Ray task to a cluster. Both yield
`Finished` as units finish and `Waiting` while none does, so the engine says progress the same way for both.

A unit is a job or a Population of seed-twins (population_job.py); `train_unit` trains either, wherever it runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Protocol, Sequence

from skiplab.train.distributed import is_distributed

from .pool import parallel
from .population_job import Population
from .runspec import Outcome


@dataclass(frozen=True)
class Finished:
    """A unit ended: its members' (key, Outcome), or `error` (one line) when it failed for its own reasons."""

    unit: Any
    outcomes: list[tuple[str, Outcome]] = field(default_factory=list)
    error: str | None = None
    running: int = 0  # units still training, and waiting for a slot, after this one
    queued: int = 0


@dataclass(frozen=True)
class Waiting:
    """Nothing finished for a while: how many units are training and how many wait for a slot."""

    running: int
    queued: int


class Executor(Protocol):
    name: str

    @property
    def populations(self) -> bool: ...  # whether seed-twins train together as one unit

    def describe(self) -> str: ...  # where runs train, for the progress lines

    def run(self, units: Sequence[Any], out: Path, verbose: bool) -> Iterator[Finished | Waiting]: ...


def train_unit(args: tuple[Any, Path, bool]) -> list[tuple[str, Outcome]]:
    """(key, outcome) of the job, or of each member of a Population."""
    job, out, verbose = args
    if isinstance(job, Population):
        return job.train_all(out, verbose)
    return [(job.key, job.train(out, verbose))]


class LocalExecutor:
    """`workers` single-thread processes side by side (this process when workers <= 1, as on a GPU or under
    torchrun). In one process, seed-twins train together as a population. A unit that raises stops the call: the
    error reaches the user, and interrupted runs resume next time."""

    name = "local"

    def __init__(self, workers: int = 1, populations: bool = True) -> None:
        self.workers = workers
        self._populations = populations

    @property
    def populations(self) -> bool:
        return self._populations and self.workers <= 1 and not is_distributed()

    def describe(self) -> str:
        return f"{self.workers} local process{'es' * (self.workers != 1)}"

    def run(self, units: Sequence[Any], out: Path, verbose: bool) -> Iterator[Finished | Waiting]:
        args = [(u, out, verbose) for u in units]
        for i, outcomes in enumerate(parallel(train_unit, args, self.workers, ordered=False,
                                              one_thread=self.workers > 1), 1):
            left = len(units) - i
            running = min(max(self.workers, 1), left)
            yield Finished(None, outcomes, running=running, queued=left - running)
