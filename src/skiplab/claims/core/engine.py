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
from typing import Any, Callable, Iterable, Iterator, TypeVar

import torch

from skiplab import config as C
from skiplab._atomic import write_json
from skiplab.data import Dataset, to_float
from skiplab.data.dataset import spread
from skiplab.models import Net
from skiplab.train import Callback, TrainState
from skiplab.train.experiment import RunConfig, build_model, load_data, locate_run, run_training

GRADIENTS = "probes/gradients.json"
ALIGNMENT = "probes/alignment.json"
PROBE_VERSION = 1  # bump when the recorded probe changes: it is part of every claims run's hash
HELD_OUT = 256  # test examples the alignment recorder uses


@dataclass(frozen=True)
class RunSpec:
    run: RunConfig
    probe_examples: int = 256
    probe_every: int = 1
    record_alignment: bool = False  # also record cos(F, -dL/dx) through training (pre-activation residual nets)

    @property
    def key(self) -> str:
        return C.stable_hash({"run": self.run, **self.extra}, n=16)

    @property
    def label(self) -> str:
        return f"{self.run.model}{'' if not self.run.model_args else C.stable_hash(self.run.model_args, 4)} " \
               f"seed {self.run.seed}"

    @property
    def extra(self) -> dict[str, Any]:
        probes: dict[str, Any] = {"gradients": PROBE_VERSION, "examples": self.probe_examples,
                                  "every": self.probe_every}
        if self.record_alignment:  # only then, so runs without it keep their hash
            probes["alignment"] = {"version": PROBE_VERSION, "held_out": HELD_OUT}
        return {"probes": probes}


def probe_batch(data: Dataset, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed batch of `n` training examples (seed 0, the same for every run and seed)."""
    g = torch.Generator().manual_seed(0)
    idx = torch.randperm(len(data.train_y), generator=g)[:n]
    return to_float(data.train_x[idx]), data.train_y[idx]


def heldout_batch(data: Dataset, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`n` test examples spread evenly over the split (image folders come sorted by class)."""
    idx = spread(len(data.test_y), n)
    return to_float(data.test_x[idx]), data.test_y[idx]


def calibration_batch(data: Dataset, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`n` training examples spread evenly over the split, for batch-norm calibration and linear probes."""
    idx = spread(len(data.train_y), n)
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
        # progress lines for claims that train inside measure (their runs depend on each other); reproduce sets it
        self.say: Callable[[str], None] = lambda s: None

    def dataset(self, spec: RunSpec) -> Dataset:
        return dataset_of(spec)

    def dir(self, spec: RunSpec) -> Path:
        return self.dirs[spec.key]

    def metrics(self, spec: RunSpec) -> list[dict[str, Any]]:
        return [json.loads(line) for line in (self.dir(spec) / "metrics.jsonl").read_text().splitlines()]

    def result(self, spec: RunSpec) -> dict[str, Any]:
        return json.loads((self.dir(spec) / "result.json").read_text())

    def gradients(self, spec: RunSpec) -> list[dict[str, Any]]:
        return self.records(spec, GRADIENTS)

    def records(self, spec: RunSpec, name: str) -> list[dict[str, Any]]:
        """A recorder's persisted records (GRADIENTS, ALIGNMENT), [] if the run has none."""
        path = self.dir(spec) / name
        return json.loads(path.read_text()) if path.exists() else []

    def model(self, spec: RunSpec, trained: bool = True) -> Net:
        """The run's model at init (rebuilt from its seed) or trained (weights from its checkpoint), on the CPU."""
        model = build_model(spec.run, self.dataset(spec))
        if trained:
            from skiplab.train.checkpoint import load_model_weights
            from skiplab.train.loop import model_signature
            load_model_weights(self.dir(spec), model, model_signature(model))
        return model.eval()


def _train_one(spec: RunSpec, out: Path, verbose: bool, threads: int | None) -> tuple[str, str, float, dict, bool, bool]:
    """Train (or find, or resume) one claims run; runs in a worker process when `execute` uses several."""
    from skiplab.probes import AlignmentCallback, GradientSignalCallback

    if threads:
        torch.set_num_threads(threads)
    data = dataset_of(spec)
    x, y = probe_batch(data, spec.probe_examples)

    def callbacks(directory: Path) -> list[Callback]:
        cbs: list[Callback] = [PersistedRecorder(GradientSignalCallback(x, y, every=spec.probe_every),
                                                 directory / GRADIENTS)]
        if spec.record_alignment:
            xa, ya = heldout_batch(data, HELD_OUT)
            cbs.append(PersistedRecorder(AlignmentCallback(xa, ya, every=spec.probe_every), directory / ALIGNMENT))
        return cbs

    directory = locate_run(spec.run, data, out, "claims", spec.extra)
    resume = (directory / "state.json").exists() and not (directory / "result.json").exists()
    outcome = run_training(spec.run, out, resume=resume, callbacks=callbacks, verbose=verbose, kind="claims",
                           extra=spec.extra, dataset=data)
    return spec.key, str(outcome.run_dir), outcome.seconds, outcome.result, outcome.reused, resume


_DATA: dict[str, Dataset] = {}  # per process: the main process and each worker load a dataset once


def dataset_of(spec: RunSpec) -> Dataset:
    key = C.stable_hash(spec.run.data)
    if key not in _DATA:
        _DATA[key] = load_data(spec.run.data)
    return _DATA[key]


def execute(specs: list[RunSpec], runs: Runs, say: Callable[[str], None] = print, verbose: bool = False,
            workers: int = 1, labels: dict[str, str] | None = None) -> None:
    """Train every spec not yet finished, reporting progress and an ETA through `say`.

    With `workers` > 1 the runs train in that many processes of one thread each: on a small CPU, small nets use
    two threads poorly, and two single-thread runs side by side finish ~1.5x sooner than one after the other.
    The heaviest runs start first so the last ones to finish are short."""
    unique = {s.key: s for s in specs if s.key not in runs.dirs}  # a run shared by claims trains once
    todo = sorted(unique.values(), key=_cost, reverse=True)
    labels = labels or {}
    t_start, finished = time.perf_counter(), 0

    def report(result: tuple[str, str, float, dict, bool, bool], label: str) -> None:
        nonlocal finished
        key, directory, seconds, outcome, reused, resumed = result
        runs.dirs[key], runs.seconds[key] = Path(directory), seconds
        finished += 1
        if reused:
            say(f"[{finished}/{len(todo)}] {label}: reused {directory}")
            return
        final = outcome.get("final", {})
        elapsed = time.perf_counter() - t_start
        eta = elapsed / finished * (len(todo) - finished)
        say(f"[{finished}/{len(todo)}] {label}: {'resumed, ' if resumed else ''}{outcome.get('status')}, train "
            f"error {final.get('train_full_err', final.get('train_err', float('nan'))):.2%} in {seconds:.1f}s; "
            f"ETA {eta:.0f}s")

    if workers <= 1 or len(todo) <= 1:
        for spec in todo:
            report(_train_one(spec, runs.out, verbose, None), f"{spec.label} {labels.get(spec.key, '')}".strip())
        return
    for result in spawn_map(_train_job, [(spec, runs.out, False, 1) for spec in todo], workers, ordered=False):
        spec = next(s for s in todo if s.key == result[0])
        report(result, f"{spec.label} {labels.get(spec.key, '')}".strip())


T = TypeVar("T")


def with_progress(items: Iterable[T], n: int, what: str, say: Callable[[str], None]) -> Iterator[T]:
    """`items`, saying "[i/n] what: elapsed, ETA" as each arrives (long work inside a claim's measure)."""
    t0 = time.perf_counter()
    for i, x in enumerate(items, 1):
        elapsed = time.perf_counter() - t0
        say(f"[{i}/{n}] {what}: {elapsed:.0f}s, ETA {elapsed / i * (n - i):.0f}s")
        yield x


def spawn_map(fn: Callable[[Any], Any], jobs: list[Any], workers: int, ordered: bool = True) -> Iterator[Any]:
    """fn(job) for every job in `workers` spawned processes, yielded as they finish (in job order if `ordered`).

    spawn, not fork: forking a process whose OpenMP threads are running can deadlock the child. A plain Pool, not
    an executor: on Ctrl-C or an error it terminates its workers instead of finishing the queue (interrupted
    training runs resume from their last epoch checkpoint next time)."""
    import multiprocessing as mp

    pool = mp.get_context("spawn").Pool(workers)
    try:
        yield from (pool.imap if ordered else pool.imap_unordered)(fn, jobs)
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()


def _train_job(args: tuple) -> tuple[str, str, float, dict, bool, bool]:
    return _train_one(*args)


def _cost(spec: RunSpec) -> float:
    """Relative training cost, for scheduling: depth x epochs (model config depth, or the preset's)."""
    from skiplab.models import model_config
    depth = getattr(model_config(spec.run.model, **spec.run.model_args), "depth", 1)
    return float(depth) * spec.run.train.epochs
