"""Training the runs claims need, once each: a run is keyed by its config (plus what it records), so claims that
share a run share its folder, a finished run is reused and an interrupted one resumes.

Every claims run records the gradient signal (skiplab.probes) on a fixed batch of training examples at init and
after every epoch; the records are persisted beside the checkpoint (probes/gradients.json) at each epoch end, so
a resumed run keeps what it had measured."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from .. import config as C
from .._atomic import write_json
from ..data import Dataset, to_float
from ..models import Net
from ..train import Callback, TrainState
from ..train.experiment import RunConfig, build_model, load_data, locate_run, run_training

GRADIENTS = "probes/gradients.json"
PROBE_VERSION = 1  # bump when the recorded probe changes: it is part of every claims run's hash


@dataclass(frozen=True)
class RunSpec:
    run: RunConfig
    probe_examples: int = 256

    @property
    def key(self) -> str:
        return C.stable_hash({"run": self.run, "probe_examples": self.probe_examples}, n=16)

    @property
    def label(self) -> str:
        return f"{self.run.model}{'' if not self.run.model_args else C.stable_hash(self.run.model_args, 4)} " \
               f"seed {self.run.seed}"

    @property
    def extra(self) -> dict[str, Any]:
        return {"probes": {"gradients": PROBE_VERSION, "examples": self.probe_examples}}


def probe_batch(data: Dataset, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed batch of `n` training examples (seed 0, the same for every run and seed)."""
    g = torch.Generator().manual_seed(0)
    idx = torch.randperm(len(data.train_y), generator=g)[:n]
    return to_float(data.train_x[idx]), data.train_y[idx]


class PersistedRecorder(Callback):
    """Wraps a probe recorder: loads its earlier records before training, saves them after every epoch."""

    def __init__(self, recorder: Callback, path: Path) -> None:
        self.recorder, self.path = recorder, path

    def on_fit_start(self, state: TrainState) -> None:
        if self.path.exists():
            self.recorder.records = json.loads(self.path.read_text())  # type: ignore[attr-defined]
        self.recorder.on_fit_start(state)

    def on_epoch_end(self, state: TrainState, metrics: dict[str, Any]) -> None:
        self.recorder.on_epoch_end(state, metrics)
        write_json(self.path, self.recorder.records)  # type: ignore[attr-defined]


class Runs:
    """The finished runs of one reproduce call, and what claims read from them."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.dirs: dict[str, Path] = {}
        self.seconds: dict[str, float] = {}
        self._data: dict[Any, Dataset] = {}

    def dataset(self, spec: RunSpec) -> Dataset:
        key = C.stable_hash(spec.run.data)
        if key not in self._data:
            self._data[key] = load_data(spec.run.data)
        return self._data[key]

    def dir(self, spec: RunSpec) -> Path:
        return self.dirs[spec.key]

    def metrics(self, spec: RunSpec) -> list[dict[str, Any]]:
        return [json.loads(line) for line in (self.dir(spec) / "metrics.jsonl").read_text().splitlines()]

    def result(self, spec: RunSpec) -> dict[str, Any]:
        return json.loads((self.dir(spec) / "result.json").read_text())

    def gradients(self, spec: RunSpec) -> list[dict[str, Any]]:
        path = self.dir(spec) / GRADIENTS
        return json.loads(path.read_text()) if path.exists() else []

    def model(self, spec: RunSpec, trained: bool = True) -> Net:
        """The run's model at init (rebuilt from its seed) or trained (weights from its checkpoint), on the CPU."""
        model = build_model(spec.run, self.dataset(spec))
        if trained:
            from ..train.checkpoint import load_model_weights
            load_model_weights(self.dir(spec), model)
        return model.eval()


def execute(specs: list[RunSpec], runs: Runs, say: Callable[[str], None] = print, verbose: bool = False) -> None:
    """Train every spec not yet finished (in order), reporting progress and an ETA through `say`."""
    from ..probes import GradientSignalCallback

    todo = [s for s in specs if s.key not in runs.dirs]
    t_start, trained = time.perf_counter(), 0
    for i, spec in enumerate(todo, 1):
        data = runs.dataset(spec)
        x, y = probe_batch(data, spec.probe_examples)

        def callbacks(directory: Path, x=x, y=y) -> list[Callback]:
            return [PersistedRecorder(GradientSignalCallback(x, y), directory / GRADIENTS)]

        directory = locate_run(spec.run, data, runs.out, "claims", spec.extra)
        resume = (directory / "state.json").exists() and not (directory / "result.json").exists()
        t0 = time.perf_counter()
        outcome = run_training(spec.run, runs.out, resume=resume, callbacks=callbacks, verbose=verbose,
                               kind="claims", extra=spec.extra, dataset=data)
        runs.dirs[spec.key] = outcome.run_dir
        runs.seconds[spec.key] = outcome.seconds
        if outcome.reused:
            say(f"[{i}/{len(todo)}] {spec.label}: reused {outcome.run_dir}")
            continue
        trained += 1
        per_run = (time.perf_counter() - t_start) / trained
        eta = per_run * (len(todo) - i)
        status = outcome.result.get("status")
        final = outcome.result.get("final", {})
        say(f"[{i}/{len(todo)}] {spec.label}: {'resumed, ' if resume else ''}{status}, train error "
            f"{final.get('train_full_err', final.get('train_err', float('nan'))):.2%} in "
            f"{time.perf_counter() - t0:.1f}s; ETA {eta:.0f}s")
