"""`skiplab sweep`: a grid of config overrides over seeds, trained here or on a Ray cluster, in one table."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.markup import escape
from rich.table import Table

from .. import config as C
from ..errors import ConfigError
from ..train.experiment import DataConfig, ModelConfig
from .common import err_console, out_console, user_errors
from .executors import ADDRESS_HELP, CPUS_HELP, EXECUTOR_HELP, GPUS_HELP, RETRIES_HELP, make_executor
from .outputs import check_output
from .reproduce import check_seeds

METRIC_HELP = ("what the table and plot show, from each run's final evaluation: test_err, train_err, "
               "train_full_err (needs train.eval_train=true), test_loss, train_loss, train_full_loss, or seconds")


def _value(v: object, error: bool) -> str:
    if v is None:
        return "-"
    return f"{v:.2%}" if error else f"{v:.4g}"


@user_errors
def sweep(
    grid: List[str] = typer.Option(..., "--grid", "-g", help="an axis KEY=V1,V2,... (repeatable; the grid is "
                                                             "their product), e.g. model.depth=8,14,20"),
    seeds: int = typer.Option(3, "--seeds", help="seeds 0..N-1 at every grid point"),
    model: Optional[str] = typer.Option(None, "--model", "-m", help=f"model (default {ModelConfig.name})"),
    data: Optional[str] = typer.Option(None, "--data", "-d", help=f"dataset (default {DataConfig.name})"),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="folder with the dataset's files"),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML/JSON file with model/data/train"),
    set_: Optional[List[str]] = typer.Option(None, "--set", "-s", help="fix a key at every point, e.g. "
                                                                        "train.epochs=5"),
    metric: str = typer.Option("test_err", "--metric", help=METRIC_HELP),
    runs: Path = typer.Option(Path("runs"), "--runs", help="root of the run folders (as `skiplab train --out`): "
                                                           "runs trained before are reused"),
    out: Optional[Path] = typer.Option(None, "--out", help="where sweep.json, runs.csv, summary.csv and sweep.png "
                                                           "go (default sweeps/<axes>-<hash>)"),
    workers: Optional[int] = typer.Option(None, "--workers", help="local training processes (default: 2 on a "
                                                                  "CPU with >= 2 cores, 1 on a GPU); with "
                                                                  "--executor ray and no --address, the local "
                                                                  "Ray's CPUs"),
    executor: str = typer.Option("local", "--executor", help=EXECUTOR_HELP),
    address: Optional[str] = typer.Option(None, "--address", help=ADDRESS_HELP),
    cpus_per_run: float = typer.Option(1.0, "--cpus-per-run", help=CPUS_HELP),
    gpus_per_run: Optional[float] = typer.Option(None, "--gpus-per-run", help=GPUS_HELP),
    retries: int = typer.Option(3, "--retries", help=RETRIES_HELP),
) -> None:
    """Train a grid of settings over seeds and collect one table and one plot.

    Example: skiplab sweep --grid model.depth=8,14,20 --grid model.h=0.25,1 --model preresnet20 --set
    train.epochs=5 --seeds 3. Each run is an ordinary `skiplab train` run (found again by its config hash, resumed
    when interrupted); the summary has the mean, std and a 95% interval over seeds with every seed's value.
    """
    from ..sweep import parse_axis, sweep as run_sweep
    from ..sweep.run import command_line, default_out
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be a whole number >= 1, got {workers}")
    check_seeds(seeds)
    for assignment in set_ or []:
        if assignment.partition("=")[0].strip() == "seed":
            # it would be applied after each point's own seed: every "seed" of the sweep one run, trained N times
            raise ConfigError(f"--set {assignment}: a sweep's seeds are 0..N-1, given by --seeds N")
    axes = [parse_axis(g) for g in grid]
    base = C.load_file(config) if config else {}
    flags = {"model.name": model, "data.name": data, "data.root": str(data_dir) if data_dir else None}
    # both folders checked now: the tables are written after every run has trained
    check_output(runs, "--runs", folder=True)
    check_output(out or default_out(axes, seeds, base, flags, list(set_ or [])), "--out", folder=True,
                 files=("sweep.json", "runs.csv", "summary.csv", "sweep.png"))
    command = command_line(grid, seeds=seeds, model=model, data=data, data_dir=data_dir, config=config,
                           set=list(set_ or []), metric=metric, runs=runs, out=out, workers=workers,
                           executor=None if executor == "local" else executor, address=address)
    runner = make_executor(executor, address, cpus_per_run, gpus_per_run, retries, workers)
    with runner:
        result = run_sweep(axes, seeds=seeds, base=base, flags=flags, assignments=list(set_ or []), runs=runs,
                           out=out, metric=metric, executor=runner.start(), workers=workers,
                           say=lambda line: err_console.print(line, markup=False),
                           command=command)
    error = metric.endswith("_err")
    table = Table(title=escape(f"{metric} over seeds 0..{seeds - 1}"), title_justify="left")
    for a in axes:
        table.add_column(escape(a.key))
    for col in ("runs", "mean", "std", "95% interval", "per seed"):
        table.add_column(col, justify="right" if col != "per seed" else "left")
    for s in result.summary:
        ci = "-" if s["ci_low"] is None else f"[{_value(s['ci_low'], error)}, {_value(s['ci_high'], error)}]"
        note = "".join(f", {s[k]} {k}" for k in ("diverged", "failed") if s[k])
        table.add_row(*[escape(str(s[a.key])) for a in axes], f"{s['runs']}{note}", _value(s["mean"], error),
                      _value(s["std"], error), escape(ci), escape(" ".join(_value(v, error) for v in s["per_seed"])))
    out_console.print(table)
    for name, path in result.paths.items():
        out_console.print(f"{name}: {path}")
