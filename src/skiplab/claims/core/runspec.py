"""`RunSpec`: one ordinary training run (skiplab.train.fit of a RunConfig) a claim reads, with what it must record
declared on the spec: the gradient signal and residual/error alignment on fixed batches (`Probes`), weight
snapshots with held-out accuracy (`Snapshots`), NFE of ODE blocks (`nfe`).

The run folder is runs/<kind>/<model>-<data>-<hash>/seed-<n>/, the hash covering the resolved config and what is
recorded, so a finished run is reused by every claim that declares the same spec, and an interrupted one resumes
from its last epoch checkpoint with its records (persisted beside the checkpoint at every epoch end)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skiplab import config as C
from skiplab._atomic import write_json
from skiplab.data import Dataset
from skiplab.train import Callback, TrainState
from skiplab.train.callbacks import WeightSnapshots
from skiplab.train.checkpoint import STATE
from skiplab.train.experiment import RunConfig, RunHooks, locate_run, run_training
from skiplab.train.runs import RESULT

from .datasets import dataset, heldout_batch, probe_batch

PROBE_VERSION = 1  # bump when the recorded probe changes: it is part of every probed run's hash
GRADIENTS = "probes/gradients.json"
ALIGNMENT = "probes/alignment.json"
NFE = "probes/nfe.json"
SNAPSHOTS = "snapshots"


@dataclass(frozen=True)
class Probes:
    """g_l = ||dL/dx_l|| ||x_l|| (skiplab.probes.gradient_signal) on `examples` fixed training examples, at init and
    every `every` epochs; with `alignment`, also cos(F_l, -dL/dx_l) on `held_out` test examples at the same epochs
    (pre-activation residual nets)."""

    examples: int = 256
    every: int = 1
    alignment: bool = False
    held_out: int = 256

    def hash_part(self) -> dict[str, Any]:
        part: dict[str, Any] = {"gradients": PROBE_VERSION, "examples": self.examples, "every": self.every}
        if self.alignment:  # only then, so runs without it keep their hash
            part["alignment"] = {"version": PROBE_VERSION, "held_out": self.held_out}
        return part


@dataclass(frozen=True)
class Snapshots:
    """Weights and held-out accuracy (on `examples` test examples spread over the split) every `every` steps
    (0: start and end only), and at the start and the end (skiplab.train.WeightSnapshots)."""

    every: int
    examples: int


class PersistedRecorder(Callback):
    """Wraps a recorder with a `.records` list: loads its earlier records before training, saves them after every
    epoch (so a resumed run keeps what it had measured)."""

    def __init__(self, recorder: Callback, path: Path) -> None:
        self.recorder, self.path = recorder, path

    def on_fit_start(self, state: TrainState) -> None:
        if self.path.exists():
            self.recorder.records = json.loads(self.path.read_text())  # type: ignore[attr-defined]
        self.recorder.on_fit_start(state)

    def on_step_end(self, state: TrainState) -> None:
        self.recorder.on_step_end(state)

    def on_epoch_end(self, state: TrainState, metrics: dict[str, Any]) -> None:
        self.recorder.on_epoch_end(state, metrics)
        write_json(self.path, self.recorder.records)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Outcome:
    """What training a job left: its folder, its result.json, whether it was reused or resumed, seconds spent."""

    folder: Path
    result: dict[str, Any]
    reused: bool
    resumed: bool
    seconds: float


@dataclass(frozen=True)
class RunSpec:
    """One fit() run of `run` and what it records (see the module docstring). `kind` is the runs/ subfolder."""

    run: RunConfig
    probes: Probes | None = Probes()
    snapshots: Snapshots | None = None
    nfe: bool = False
    kind: str = "claims"
    cost_factor: float = 1.0  # scheduling only (not hashed): cost per layer-epoch relative to a plain layer

    @property
    def extra(self) -> dict[str, Any]:
        """What joins the run's config hash besides the RunConfig: what it records."""
        extra: dict[str, Any] = {}
        if self.probes is not None:
            extra["probes"] = self.probes.hash_part()
        if self.snapshots is not None:
            extra["snapshots"] = {"version": 1, "every": self.snapshots.every, "examples": self.snapshots.examples}
        if self.nfe:
            extra["nfe"] = 1
        return extra

    @property
    def key(self) -> str:
        return C.stable_hash({"run": self.run, **self.extra, "kind": self.kind}, n=16)

    @property
    def label(self) -> str:
        args = self.run.model.overrides
        return f"{self.run.model.name}{C.stable_hash(args, 4) if args else ''} seed {self.run.seed}"

    @property
    def after(self) -> tuple[Any, ...]:
        return ()

    @property
    def cost(self) -> float:
        """Relative training cost, for scheduling the heaviest first: depth x epochs x cost_factor."""
        depth = getattr(self.run.model.resolve(), "depth", 1)
        return float(depth) * self.run.train.epochs * self.cost_factor

    def dataset(self) -> Dataset:
        return dataset(self.run.data)

    def folder(self, out: Path) -> Path:
        return locate_run(self.run, self.dataset(), out, self.kind, self.extra or None)

    def callbacks(self, data: Dataset, directory: Path) -> list[Callback]:
        """The recorders this spec declares, persisting into the run folder `directory`."""
        from skiplab.probes import AlignmentCallback, GradientSignalCallback
        from skiplab.probes.nfe import NFECallback
        cbs: list[Callback] = []
        if self.probes is not None:
            p = self.probes
            x, y = probe_batch(data, p.examples)
            cbs.append(PersistedRecorder(GradientSignalCallback(x, y, every=p.every), directory / GRADIENTS))
            if p.alignment:
                xa, ya = heldout_batch(data, p.held_out)
                cbs.append(PersistedRecorder(AlignmentCallback(xa, ya, every=p.every), directory / ALIGNMENT))
        if self.snapshots is not None:
            xs, ys = heldout_batch(data, min(self.snapshots.examples, len(data.test_y)))
            cbs.append(WeightSnapshots(xs, ys, self.snapshots.every, directory / SNAPSHOTS))
        if self.nfe:
            cbs.append(PersistedRecorder(NFECallback(), directory / NFE))
        return cbs

    def resolved(self, folder: Path) -> dict[str, Any]:
        """The resolved config the report shows."""
        return json.loads((folder / "config.json").read_text())["resolved"]

    def train(self, out: Path, verbose: bool = False) -> Outcome:
        data = self.dataset()
        directory = self.folder(out)
        resume = (directory / STATE).exists() and not (directory / RESULT).exists()
        outcome = run_training(self.run, directory, data, extra=self.extra or None, existing="resume",
                               hooks=RunHooks(callbacks=lambda d: self.callbacks(data, d)), verbose=verbose)
        return Outcome(outcome.run_dir, outcome.result, outcome.reused, resume, outcome.seconds)

