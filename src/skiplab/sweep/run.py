"""`sweep()`: every point of a grid over seeds, trained through the engine's executor (local processes or a Ray
cluster), collected into one table. The runs are ordinary `skiplab train` runs (runs/train/<model>-<data>-<hash>/
seed-<n>/): a point trained before, by a sweep or by `skiplab train`, is reused, and an interrupted sweep resumes."""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from skiplab import config as C
from skiplab.claims.core.engine import Done, RunsFailed, RunSpec, execute
from skiplab.claims.core.executor import Executor
from skiplab.claims.core.pool import default_workers
from skiplab.errors import ConfigError
from skiplab.train.experiment import resolve_run_config, training_device

from .grid import Axis, axes_from, points
from .table import METRICS, summarize, write_outputs


@dataclass(frozen=True)
class SweepRun:
    point: dict[str, Any]
    seed: int
    spec: RunSpec


@dataclass
class SweepResult:
    out: Path  # the folder holding sweep.json, runs.csv, summary.csv, sweep.png
    rows: list[dict[str, Any]]  # one per run
    summary: list[dict[str, Any]]  # one per grid point
    paths: dict[str, Path] = field(default_factory=dict)


def plan(axes: Sequence[Axis], seeds: int, base: Mapping[str, Any] | None = None,
         flags: Mapping[str, Any] | None = None, assignments: Sequence[str] = ()) -> list[SweepRun]:
    """The runs of the sweep, each config resolved and checked (model, recipe, device, dataset) before any
    trains: base <- flags <- --set assignments <- the grid point <- the seed."""
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ConfigError(f"seeds must be a whole number >= 1, got {seeds!r}")
    fixed = {k for k, v in (flags or {}).items() if v is not None}
    fixed |= {a.partition("=")[0].strip() for a in assignments}
    for a in axes:
        if a.key in fixed:
            raise ConfigError(f"{a.key} is both a grid axis and a fixed setting (--set or its own flag); "
                              "give it in one place")
    runs = []
    for p in points(axes):
        for seed in range(seeds):
            try:
                cfg = resolve_run_config(base, {**(flags or {}), **p, "seed": seed}, assignments)
            except ConfigError as e:
                where = ", ".join(f"{k}={v}" for k, v in p.items())
                raise ConfigError(f"grid point {where}: {e}") from None
            runs.append(SweepRun(p, seed, RunSpec(cfg, probes=None, kind="train")))
    for r in runs:  # every dataset loads (once each) and every model resolves against its data now
        training_device(r.spec.run.train)
        data = r.spec.dataset()
        r.spec.run.model.resolve(data.model_kwargs(), r.spec.run.data.name)
    return runs


def default_out(axes: Sequence[Axis], seeds: int, base: Any, flags: Any, assignments: Sequence[str]) -> Path:
    keys = "-".join(a.key.rsplit(".", 1)[-1] for a in axes)
    digest = C.stable_hash({"axes": [[a.key, list(a.values)] for a in axes], "seeds": seeds, "base": base or {},
                            "flags": {k: v for k, v in (flags or {}).items() if v is not None},
                            "set": list(assignments)}, n=8)
    return Path("sweeps") / f"{keys}-{digest}"


def sweep(grid: Mapping[str, Sequence[Any]] | Sequence[Axis], *, seeds: int = 3,
          base: Mapping[str, Any] | None = None, flags: Mapping[str, Any] | None = None,
          assignments: Sequence[str] = (), runs: str | Path = "runs", out: str | Path | None = None,
          metric: str = "test_err", executor: Executor | None = None, workers: int | None = None,
          say: Callable[[str], None] = print, command: str | None = None) -> SweepResult:
    """Train every grid point x seeds 0..seeds-1 and collect one table.

    `grid`: {"model.depth": [8, 14, 20], "model.h": [0.25, 1.0]} (or Axis objects). `base`: a config as a file
    holds it ({"model": "preresnet20", "train": {"epochs": 5}}); `flags`: dotted keys ({"data.name": "digits"});
    `assignments`: `--set` strings. Runs go to `runs` (as `skiplab train --out`); sweep.json, runs.csv,
    summary.csv and sweep.png (the metric against the first axis, a line per combination of the others) to `out`.
    `executor`: a RayExecutor (claims.core.ray_executor) to train on a cluster; None trains here in `workers`
    processes. Runs that fail (on Ray) are kept in the tables as failed, then RunsFailed is raised."""
    if metric not in METRICS:
        raise ConfigError(f"metric {metric!r}: expected one of {', '.join(METRICS)}")
    axes = axes_from(grid)
    planned = plan(axes, seeds, base, flags, assignments)
    if metric.startswith("train_full") and not all(r.spec.run.train.eval_train for r in planned):
        raise ConfigError(f"metric {metric} is measured only with train.eval_train=true (add --set it)")
    out = Path(out) if out is not None else default_out(axes, seeds, base, flags, assignments)
    say(f"sweep: {len(planned) // seeds} grid point(s) x {seeds} seed(s) = {len(planned)} run(s); "
        f"runs under {runs}, tables to {out}")
    done = Done(Path(runs), executor)
    failed: dict[str, str] = {}
    try:
        execute([r.spec for r in planned], done, say=say, workers=workers or default_workers())
    except RunsFailed as e:
        failed = e.failed
    rows = [_row(r, done, failed, metric) for r in planned]
    summary = summarize(rows, axes, metric)
    meta = {"command": command, "axes": [[a.key, list(a.values)] for a in axes], "seeds": seeds, "metric": metric,
            "base": base or {}, "flags": {k: v for k, v in (flags or {}).items() if v is not None},
            "set": list(assignments), "runs": str(runs)}
    paths = write_outputs(out, meta, rows, summary, axes, metric)
    if failed:
        raise RunsFailed(failed)
    return SweepResult(out, rows, summary, paths)


def _row(r: SweepRun, done: Done, failed: Mapping[str, str], metric: str) -> dict[str, Any]:
    row: dict[str, Any] = {**r.point, "seed": r.seed}
    if r.spec.key in failed:
        return {**row, "status": "failed", metric: None, "error": failed[r.spec.key]}
    outcome = done.outcomes[r.spec.key]
    res = outcome.result
    final = res.get("final", {})
    value = outcome.seconds if metric == "seconds" else final.get(metric)
    value = value if isinstance(value, (int, float)) and math.isfinite(value) else None
    return {**row, "status": res.get("status"), metric: value, "test_err": final.get("test_err"),
            "train_err": final.get("train_err"), "epochs": final.get("epoch"),
            "seconds": round(outcome.seconds, 3), "reused": outcome.reused, "folder": str(outcome.folder)}


def command_line(grid: Sequence[str], **options: Any) -> str:
    """The call as a command line, for sweep.json."""
    words = ["skiplab", "sweep"]
    for g in grid:
        words += ["--grid", g]
    for flag, value in options.items():
        if value is None or value is False or value == []:
            continue
        for v in (value if isinstance(value, list) else [value]):
            words += [f"--{flag.replace('_', '-')}"] + ([] if v is True else [str(v)])
    return " ".join(shlex.quote(w) for w in words)
