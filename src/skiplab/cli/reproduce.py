"""`skiplab reproduce`: run the claims, print the verdict table, write the report."""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Any, List, Optional

import typer
from rich.markup import escape
from rich.table import Table

from ..errors import ConfigError
from ..report.stats_text import replicated
from .common import err_console, out_console, user_errors
from .executors import (ADDRESS_HELP, CPUS_HELP, EXECUTOR_HELP, GPUS_HELP, RETRIES_HELP, make_executor)
from .outputs import check_output

COLOURS = {"supported": "green", "not supported": "red", "inconclusive": "yellow"}
# Seeds per configuration: more is no experiment anyone runs here, and every run's config is resolved before the
# first trains (about a millisecond each), so 10**9 seeds would sit for hours, silently, using memory.
MAX_SEEDS = 10_000


def check_seeds(seeds: int) -> None:
    """--seeds of reproduce and sweep: at most MAX_SEEDS (the lower bound is each engine's own check)."""
    if seeds > MAX_SEEDS:
        raise ConfigError(f"--seeds must be at most {MAX_SEEDS:,}, got {seeds}")


@user_errors
def reproduce(
    claims: Optional[List[str]] = typer.Argument(None, help="claim ids (all when none is named); "
                                                            "see `skiplab list claims`"),
    scale: str = typer.Option("quick", "--scale", help="quick (2-core CPU, minutes), cifar (CIFAR-10 at He et "
                                                       "al.'s depths with a short recipe, minutes of a GPU; the "
                                                       "claims that read the depth ladder, all of them when none "
                                                       "is named) or full (He et al.'s recipe, days of a GPU)"),
    seeds: int = typer.Option(6, "--seeds", help="seeds per configuration; verdicts are judged on a 95% interval over "
                                                 "them and replicated on each half, so >= 6 (3 per half)"),
    data: Optional[str] = typer.Option(None, "--data", help="override the claims' dataset (e.g. "
                                                            "imagefolder:DIR for the full scale)"),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="folder with the dataset's files"),
    out: Path = typer.Option(Path("reproduce"), "--out", help="runs go to OUT/runs, the report to OUT/<scale>/"),
    set_: Optional[List[str]] = typer.Option(None, "--set", "-s", help="override the scale's settings, e.g. "
                                             "depths=[20,32,56] or train.epochs=10 or train.batch_size=512"),
    steps: Optional[int] = typer.Option(None, "--steps", help="smoke test: cap every training run at N steps "
                                                              "and its evaluations at 1,000 examples (verdicts "
                                                              "are then meaningless)"),
    workers: Optional[int] = typer.Option(None, "--workers", help="training processes side by side (default: 2 "
                                                                  "on a CPU with >= 2 cores, 1 on a GPU)"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="print every epoch of every run (one worker); "
                                                                "with --plan, list the runs by configuration"),
    plan: bool = typer.Option(False, "--plan", help="train nothing, write nothing: list the runs each claim needs, "
                                                    "how many are finished under OUT/runs, and the estimated time "
                                                    "of the rest here (from a few training steps timed per "
                                                    "configuration) and on a GPU (from a recorded H200 benchmark)"),
    no_timing: bool = typer.Option(False, "--no-timing", help="with --plan: count runs only, time nothing (also "
                                                              "SKIPLAB_PLAN_TIMING=0)"),
    executor: str = typer.Option("local", "--executor", help=EXECUTOR_HELP),
    address: Optional[str] = typer.Option(None, "--address", help=ADDRESS_HELP),
    cpus_per_run: float = typer.Option(1.0, "--cpus-per-run", help=CPUS_HELP),
    gpus_per_run: Optional[float] = typer.Option(None, "--gpus-per-run", help=GPUS_HELP),
    retries: int = typer.Option(3, "--retries", help=RETRIES_HELP),
) -> None:
    """Check claims of the residual-network story: train (or reuse) the runs they need, judge each by its
    pre-registered rule, and write report.html, report.md and results.json.

    Finished runs are found by their config hash and reused; an interrupted reproduce resumes its runs.
    On several GPUs: `torchrun --nproc-per-node N -m skiplab reproduce ...` trains each run with DDP.
    On many machines: `--executor ray --address HOST:6379` trains each run as a Ray task (OUT and the data on a
    path every node shares). `--plan` shows what a call would train and how long it would take.
    """
    from ..claims import CLAIMS, Context, get_claim
    from ..claims.core.reproduce import reproduce as run_claims
    from ..train import distributed as D

    from ..claims.core.scale import scales_of
    check_seeds(seeds)
    # --plan only reads OUT (finished runs); a real call writes runs and the report there
    check_output(out, "--out", folder=True, write=not plan)
    modules = [get_claim(c) for c in (claims or list(CLAIMS))]
    if not claims:  # all claims: those that have this scale (the cifar scale is the depth ladder's)
        modules = [m for m in modules if scale in scales_of(m)] or modules
    if plan and executor == "local":
        # checked in --plan too (it starts no executor), so a plan is not shown for a call that would be refused;
        # not for ray, whose check imports Ray: a plan made where Ray is not installed still works
        make_executor(executor, address, cpus_per_run, gpus_per_run, retries, workers)
    if plan:
        from ..claims.core.plan import plan as make_plan
        ctx = Context(scale=scale, seeds=seeds, data=data, data_root=str(data_dir) if data_dir else None,
                      overrides=tuple(set_ or ()), max_steps=steps, **({} if workers is None else {"workers": workers}))
        env = os.environ.get("SKIPLAB_PLAN_TIMING", "1").strip().lower()
        timing = not no_timing and env not in ("0", "no", "false")
        p = make_plan(modules, ctx, out, timing=timing)
        for t in plan_tables(p, scale, seeds, out, verbose):
            out_console.print(t)
        for line in p.notes:
            out_console.print(f"- {escape(line)}")
        out_console.print(f"planned in {p.seconds:.1f} s; nothing was trained or written")
        return
    command = command_line(claims or [], scale=scale, seeds=seeds, data=data, data_dir=data_dir, out=out,
                           set_=set_ or [], steps=steps, workers=workers)
    runner = make_executor(executor, address, cpus_per_run, gpus_per_run, retries, workers)
    with D.from_torchrun(), runner:  # under torchrun every run is one DDP run over all ranks, one run after another
        main, ranks = D.is_main(), D.world_size()
        say = (lambda s: err_console.print(s, markup=False)) if main else (lambda s: None)
        ctx = Context(scale=scale, seeds=seeds, data=data, data_root=str(data_dir) if data_dir else None,
                      overrides=tuple(set_ or ()), max_steps=steps, say=say,
                      **({"workers": 1} if verbose or ranks > 1 else {} if workers is None else {"workers": workers}))
        if ranks > 1 and runner.executor is not None:
            raise ConfigError("--executor ray under torchrun: choose one (torchrun trains each run over this "
                              "machine's GPUs, Ray spreads runs over machines)")
        outcome = run_claims(modules, ctx, out, command, verbose=verbose and main, executor=runner.start())
    if not main:
        return
    ran = {m.CLAIM.id for m in modules}
    out_console.print(verdict_table([c for c in outcome["results"]["claims"] if c["id"] in ran], scale, seeds))
    out_console.print(f"report: {outcome['paths'].get('report.html', outcome['dir'] / 'report.html')}")


def command_line(claims: List[str], *, scale: str, seeds: int, data: Optional[str], data_dir: Optional[Path],
                 out: Path, set_: List[str], steps: Optional[int], workers: Optional[int]) -> str:
    """The call as a command line rebuilt from its parsed options (not sys.argv, which names the test runner or
    torchrun when the command is invoked from one): what results.json records as the call that wrote a claim."""
    words = ["skiplab", "reproduce", *claims, "--scale", scale, "--seeds", str(seeds)]
    for flag, value in (("--data", data), ("--data-dir", data_dir), ("--steps", steps), ("--workers", workers)):
        if value is not None:
            words += [flag, str(value)]
    words += ["--out", str(out)]
    for assignment in set_:
        words += ["--set", assignment]
    return " ".join(shlex.quote(w) for w in words)


def verdict_table(claims: list[dict], scale: str, seeds: int) -> Table:
    """The verdict table printed after a reproduce: claim, kind, verdict (coloured), replicated (yes / no; n/a
    where no effect was judged), reason."""
    table = Table(title=f"verdicts ({scale} scale, {seeds} seed{'s' * (seeds != 1)})", title_justify="left")
    for col in ("claim", "kind", "verdict", "replicated", "reason"):
        table.add_column(col)
    for c in claims:
        colour = COLOURS.get(c["verdict"], "white")
        table.add_row(escape(c["id"]), escape(c["kind"]), f"[{colour}]{c['verdict']}[/{colour}]",
                      replicated(c), escape(c["reason"]))
    return table


def plan_tables(p: Any, scale: str, seeds: int, out: Path, verbose: bool = False) -> list[Table]:
    """The tables of `reproduce --plan` (p: claims.core.plan.Plan): per claim, the runs it needs, how many are
    finished, to train, and the estimated time here (one process, and the wall with the workers) and on a GPU; then
    the total, shared runs once. With `verbose`, a second table: the runs grouped by configuration (seeds merged)."""
    from ..claims.core.plan import duration

    def est(seconds: float, unknown: int, todo: int, divide: int = 1) -> str:
        if not todo:
            return "-"
        if unknown == todo:
            return "unknown"
        text = duration(seconds / divide)
        return text + (f" +{unknown}?" if unknown else "")

    title = (f"plan ({scale} scale, {seeds} seed{'s' * (seeds != 1)}, runs under {out / 'runs'}, "
             f"{p.workers} worker{'s' * (p.workers != 1)})")
    table = Table(title=escape(title), title_justify="left", caption="total: a run two claims share counted once; "
                  "+N?: N runs whose status or time is unknown (notes below)", caption_justify="left")
    columns = ["claim", "runs", "done", "to train"]
    if p.timed:
        columns += ["here", f"here /{p.workers}", "H200 (est.)"]
    width = max(len(r.name) for r in [*p.rows, p.total])
    for col in columns:
        table.add_column(col, justify="left" if col == "claim" else "right", no_wrap=col == "claim",
                         min_width=width if col == "claim" else None)
    for i, r in enumerate([*p.rows, p.total]):
        todo = r.left + r.unknown
        finished = str(r.finished) + (f" +{r.unknown}?" if r.unknown else "")
        cells = [escape(r.name), str(r.runs), finished, str(todo)]
        if p.timed:
            cells += [est(r.here_s, r.here_unknown, todo), est(r.here_s, r.here_unknown, todo, p.workers),
                      est(r.gpu_s, r.gpu_unknown, todo)]
        table.add_row(*cells, end_section=i == len(p.rows) - 1, style="bold" if r is p.total else None)
    tables = [table]
    if verbose:
        runs = Table(title="runs by configuration (seeds merged)", title_justify="left")
        cols = ("configuration", "claims", "runs", "done") + (("img/s here", "here", "H200 (est.)")
                                                                  if p.timed else ())
        for col in cols:
            runs.add_column(col, justify="left" if col in ("configuration", "claims") else "right")
        groups: dict[str, list[Any]] = {}
        for j in p.jobs:
            groups.setdefault(j.group, []).append(j)
        for group, jobs in groups.items():
            claims = sorted({c for j in jobs for c in j.claims})
            n, done = sum(j.runs for j in jobs), [j.finished for j in jobs]
            fin = "?" if any(d is None for d in done) else str(sum(done))
            todo = [j for j in jobs if j.left is None or j.left]
            img = next((j.img_s for j in jobs if j.img_s), None)
            here = (duration(sum(j.here_s for j in todo)) if todo and all(j.here_s is not None for j in todo)
                    else "-" if not todo else "unknown")
            gpu = (duration(sum(j.gpu_s for j in todo)) if todo and all(j.gpu_s is not None for j in todo)
                   else "-" if not todo else "unknown")
            cells = [escape(group), escape(", ".join(claims)), str(n), fin]
            runs.add_row(*cells, *([f"{img:,.0f}" if img else "-", here, gpu] if p.timed else []))
        tables.append(runs)
    return tables
