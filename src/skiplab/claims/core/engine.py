"""The run engine: every training run any claim needs is a job, declared by the claim's `runs(ctx)`, trained once by
`execute` before any claim measures (a job shared by claims trains once), and read back through `Done`.

A job is hashed (its folder is named by the hash of what it trains), reused when finished, resumed when
interrupted. Three kinds satisfy `Job`: `RunSpec` (an ordinary fit() run with declared records, runspec.py),
`FunctionRun` (a short custom loop that is one seeded function call, function_run.py), and the ticket claims'
IMP chains (tickets/run_set.py), whose later jobs start from earlier ones (`after`)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

from skiplab.data import Dataset
from skiplab.errors import SkiplabError
from skiplab.models import Net

from .executor import Executor, LocalExecutor, Waiting
from .function_run import FunctionRun
from .population_job import Population, group
from .runspec import ALIGNMENT, GRADIENTS, NFE, SNAPSHOTS, Outcome, RunSpec

__all__ = ["ALIGNMENT", "GRADIENTS", "NFE", "SNAPSHOTS", "Done", "FunctionRun", "Job", "Outcome", "RunSpec",
           "RunsFailed", "execute", "waves"]


class Job(Protocol):
    """What the engine trains. Implementations are frozen dataclasses (picklable: they travel to worker processes)."""

    @property
    def key(self) -> str: ...  # identity: equal keys are the same run, trained once

    @property
    def label(self) -> str: ...  # for progress lines

    @property
    def after(self) -> tuple["Job", ...]: ...  # jobs that must finish before this one starts

    @property
    def cost(self) -> float: ...  # relative cost: the heaviest start first, so the last to finish are short

    def folder(self, out: Path) -> Path: ...

    def resolved(self, folder: Path) -> dict[str, Any]: ...  # the config the report shows

    def train(self, out: Path, verbose: bool = False) -> Outcome: ...  # find, resume or train; in a worker


class RunsFailed(SkiplabError):
    """Runs that failed for their own reasons (on an executor that goes on past them): {key: "label: why"}."""

    def __init__(self, failed: dict[str, str]) -> None:
        self.failed = failed
        super().__init__(f"{len(failed)} run(s) failed and were not retried (every other run is finished and "
                         f"kept): " + "; ".join(failed.values()))


class Done:
    """The finished jobs under `out` (filled by `execute`), and what claims read from them."""

    def __init__(self, out: Path, executor: Executor | None = None) -> None:
        self.out = Path(out)
        self.outcomes: dict[str, Outcome] = {}
        self.executor = executor  # what trains the jobs a claim adds while it measures; None: local processes

    def dir(self, job: Job) -> Path:
        try:
            return self.outcomes[job.key].folder
        except KeyError:
            raise KeyError(f"{job.label}: not trained in this call; declare it in the claim's runs()") from None

    def seconds(self, job: Job) -> float:
        return self.outcomes[job.key].seconds if job.key in self.outcomes else 0.0

    def result(self, job: Job) -> dict[str, Any]:
        return json.loads((self.dir(job) / "result.json").read_text())

    def value(self, job: FunctionRun) -> Any:
        """What a FunctionRun's function returned."""
        return self.result(job)["value"]

    def metrics(self, spec: RunSpec) -> list[dict[str, Any]]:
        return [json.loads(line) for line in (self.dir(spec) / "metrics.jsonl").read_text().splitlines()]

    def records(self, spec: RunSpec, name: str) -> Any:
        """A recorder's persisted records (GRADIENTS, ALIGNMENT, NFE), [] if the run has none."""
        path = self.dir(spec) / name
        return json.loads(path.read_text()) if path.exists() else []

    def gradients(self, spec: RunSpec) -> list[dict[str, Any]]:
        return self.records(spec, GRADIENTS)

    def snapshots(self, spec: RunSpec) -> dict[str, list]:
        """{"steps", "acc"}: the snapshots a spec with `Snapshots` took; `snapshot_file(spec, step)` is where each
        one's weights are."""
        return self.records(spec, f"{SNAPSHOTS}/index.json")

    def snapshot_file(self, spec: RunSpec, step: int) -> Path:
        from skiplab.train.callbacks import WeightSnapshots
        return self.dir(spec) / SNAPSHOTS / WeightSnapshots.file(step)

    def dataset(self, spec: RunSpec) -> Dataset:
        return spec.dataset()

    def model(self, spec: RunSpec, trained: bool = True) -> Net:
        """The run's model at init (rebuilt from its seed) or trained (weights from its checkpoint), on the CPU."""
        from skiplab.train.checkpoint import load_model_weights
        from skiplab.train.experiment import build_model
        from skiplab.train.loop import model_signature
        model = build_model(spec.run, spec.dataset())
        if trained:
            load_model_weights(self.dir(spec), model, model_signature(model))
        return model.eval()


def waves(jobs: Sequence[Job]) -> list[list[Job]]:
    """The distinct jobs (by key, first listing wins) in dependency order: wave i holds the jobs whose `after` jobs
    are all in earlier waves; within a wave the heaviest come first. A dependency that is not listed is added."""
    unique: dict[str, Job] = {}

    def add(j: Job) -> None:
        for d in j.after:
            add(d)
        unique.setdefault(j.key, j)
    for j in jobs:
        add(j)
    level: dict[str, int] = {}

    def depth(j: Job) -> int:
        if j.key not in level:
            level[j.key] = 1 + max((depth(d) for d in j.after), default=-1)
        return level[j.key]
    out: list[list[Job]] = [[] for _ in range(1 + max((depth(j) for j in unique.values()), default=-1))]
    for j in unique.values():
        out[level[j.key]].append(j)
    return [sorted(w, key=lambda j: j.cost, reverse=True) for w in out]


def execute(jobs: Sequence[Job], done: Done, say: Callable[[str], None] = print, workers: int = 1,
            verbose: bool = False, labels: dict[str, str] | None = None, populations: bool = True) -> Done:
    """Train every job not yet in `done`, wave by wave, through `done.executor` (a Ray cluster, ray_executor.py) or
    else `workers` single-thread processes here (executor.LocalExecutor; this process when workers <= 1, as on a
    GPU or under torchrun), saying progress and an ETA through `say`. Where the executor trains in one place (one
    process here, a GPU task on Ray), runs that differ only in seed train together as one population, recorders
    included (population_job.py); with `populations=False` each trains alone.

    A unit that fails for its own reasons on Ray is said, not retried, and the rest go on; the call then raises
    RunsFailed naming each, with every other run finished and kept. Jobs after a failed job are not started."""
    executor = done.executor or LocalExecutor(workers)
    todo = [[j for j in w if j.key not in done.outcomes] for w in waves(jobs)]
    total, finished, t_start = sum(map(len, todo)), 0, time.perf_counter()
    labels = labels or {}
    failed: dict[str, str] = {}
    for wave in todo:
        blocked = [j for j in wave if any(d.key in failed for d in j.after)]
        for j in blocked:
            failed[j.key] = f"{j.label}: not started, a run it starts from failed"
        wave = [j for j in wave if j.key not in failed]
        by_key = {j.key: j for j in wave}
        units = group(wave) if populations and executor.populations else wave
        for event in executor.run(units, done.out, verbose):
            elapsed = time.perf_counter() - t_start
            queue = f"{event.running} training, {event.queued} queued"
            if isinstance(event, Waiting):
                eta = f"ETA {elapsed / finished * (total - finished):.0f}s" if finished else "ETA unknown"
                say(f"[{finished}/{total}] {queue}; {elapsed:.0f}s so far, {eta}")
                continue
            if event.error is not None:
                members = event.unit.members if isinstance(event.unit, Population) else (event.unit,)
                for m in members:
                    failed[m.key] = f"{m.label}: {event.error}"
                finished += len(members)
                say(f"[{finished}/{total}] {event.unit.label}: failed, not retried: {event.error}")
                continue
            for key, outcome in event.outcomes:
                done.outcomes[key] = outcome
                finished += 1
                label = f"{by_key[key].label} {labels.get(key, '')}".strip()
                if outcome.reused:
                    say(f"[{finished}/{total}] {label}: reused {outcome.folder}")
                    continue
                final = outcome.result.get("final", {})
                err = final.get("train_full_err", final.get("train_err"))
                say(f"[{finished}/{total}] {label}: {'resumed, ' if outcome.resumed else ''}"
                    f"{outcome.result.get('status')}" + (f", train error {err:.2%}" if err is not None else "")
                    + f" in {outcome.seconds:.1f}s{' (together)' if len(event.outcomes) > 1 else ''}; "
                    f"{queue}; {elapsed:.0f}s so far, ETA {elapsed / finished * (total - finished):.0f}s")
    if failed:
        raise RunsFailed(failed)
    return done
