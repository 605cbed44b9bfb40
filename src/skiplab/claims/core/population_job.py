"""Runs that differ only in seed, trained as one population (skiplab.train.population): the engine's `execute`
groups such RunSpecs of a wave into a `Population` job when it trains in one process (a GPU, or --workers 1), where
N models stepped together keep the device busy that one small model leaves idle. Each member still ends in its own
ordinary run folder (the folder its RunSpec would train in, same config.json), so claims read them unchanged.

RunSpecs that record probes (gradient signal, alignment) or weight snapshots qualify: each member gets its own
recorders (RunSpec.callbacks on its own folder), which a population calls on that member's own model at the points
fit() calls them, so the records in each folder are those of the run alone (bit for bit on the CPU, whose
population steps its models one after another; to float rounding of the weights on a GPU's vmap). RunSpecs that
count NFE do not: an ODE net's counts live on the modules that run the training forward pass, which under vmap is
the population's stateless copy of the net, not the model the recorder sees (and an adaptive solver's
data-dependent step count does not batch). With several worker processes on the CPU each run keeps its own process
instead: there N processes use the cores better than one population (the CPU's population strategy is a loop of
the models)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from skiplab import config as C
from skiplab.errors import ConfigError

from .runspec import Outcome, RunSpec


def eligible(job: Any) -> bool:
    return isinstance(job, RunSpec) and not job.nfe


@dataclass(frozen=True)
class Population:
    """Members: RunSpecs equal but for the run's seed. Trains the unfinished ones together."""

    members: tuple[RunSpec, ...]

    @property
    def key(self) -> str:
        return C.stable_hash({"population": [m.key for m in self.members]}, n=16)

    @property
    def label(self) -> str:
        seeds = ", ".join(str(m.run.seed) for m in self.members)
        return f"{self.members[0].label.rsplit(' seed ', 1)[0]} seeds {seeds} (together)"

    @property
    def after(self) -> tuple[Any, ...]:
        return ()

    @property
    def cost(self) -> float:
        return sum(m.cost for m in self.members)

    def train_all(self, out: Path, verbose: bool = False) -> list[tuple[str, Outcome]]:
        from skiplab.train.checkpoint import STATE
        from skiplab.train.experiment import RunHooks
        from skiplab.train.population import run_population
        from skiplab.train.runs import RESULT
        first = self.members[0]
        data = first.dataset()
        folders = [m.folder(out) for m in self.members]
        resumed = [(f / STATE).exists() and not (f / RESULT).exists() for f in folders]
        try:
            outcomes = run_population([m.run for m in self.members], folders, data, existing="resume",
                                      hooks=RunHooks(callbacks=lambda d: first.callbacks(data, d)),
                                      verbose=verbose,
                                      extras=[m.extra or None for m in self.members])
        except ConfigError as e:
            if not str(e).startswith("population:"):
                raise
            # what only a population cannot do (a forward pass that draws random numbers, on a GPU's vmap): it
            # stops at its first step, before any checkpoint (recorders have at most taken their records at the
            # start, which each run alone takes again), so each run simply trains alone
            return [(m.key, m.train(out, verbose)) for m in self.members]
        return [(m.key, Outcome(o.run_dir, o.result, o.reused, r, o.seconds))
                for m, o, r in zip(self.members, outcomes, resumed)]


def _seedless(spec: RunSpec) -> RunSpec:
    return dataclasses.replace(spec, run=dataclasses.replace(spec.run, seed=0))


def group(wave: Sequence[Any]) -> list[Any]:
    """The wave's jobs with every set of >= 2 eligible RunSpecs that differ only in seed replaced by one
    Population (in the place of its first member); other jobs as they were."""
    by_config: dict[str, list[RunSpec]] = {}
    for j in wave:
        if eligible(j):
            by_config.setdefault(_seedless(j).key, []).append(j)
    out, placed = [], set()
    for j in wave:
        if not eligible(j):
            out.append(j)
            continue
        k = _seedless(j).key
        members = by_config[k]
        if len(members) < 2:
            out.append(j)
        elif k not in placed:
            placed.add(k)
            out.append(Population(tuple(members)))
    return out
