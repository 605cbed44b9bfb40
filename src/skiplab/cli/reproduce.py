"""`skiplab reproduce`: run the claims, print the verdict table, write the report."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import List, Optional

import typer
from rich.markup import escape
from rich.table import Table

from ..report.stats_text import replicated
from .common import err_console, out_console, user_errors

COLOURS = {"supported": "green", "not supported": "red", "inconclusive": "yellow"}


@user_errors
def reproduce(
    claims: Optional[List[str]] = typer.Argument(None, help="claim ids (all when none is named); "
                                                            "see `skiplab list claims`"),
    scale: str = typer.Option("quick", "--scale", help="quick (2-core CPU, minutes) or full (CIFAR-10 at He et "
                                                       "al.'s depths, a GPU)"),
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
    verbose: bool = typer.Option(False, "--verbose", "-v", help="print every epoch of every run (one worker)"),
) -> None:
    """Check claims of the residual-network story: train (or reuse) the runs they need, judge each by its
    pre-registered rule, and write report.html, report.md and results.json.

    Finished runs are found by their config hash and reused; an interrupted reproduce resumes its runs.
    On several GPUs: `torchrun --nproc-per-node N -m skiplab reproduce ...` trains each run with DDP.
    """
    from ..claims import CLAIMS, Context, get_claim
    from ..claims.core.reproduce import reproduce as run_claims
    from ..train import distributed as D

    modules = [get_claim(c) for c in (claims or list(CLAIMS))]
    command = command_line(claims or [], scale=scale, seeds=seeds, data=data, data_dir=data_dir, out=out,
                           set_=set_ or [], steps=steps, workers=workers)
    with D.from_torchrun():  # under torchrun every run is one DDP run over all ranks, one run after another
        main, ranks = D.is_main(), D.world_size()
        say = (lambda s: err_console.print(s, markup=False)) if main else (lambda s: None)
        ctx = Context(scale=scale, seeds=seeds, data=data, data_root=str(data_dir) if data_dir else None,
                      overrides=tuple(set_ or ()), max_steps=steps, say=say,
                      **({"workers": 1} if verbose or ranks > 1 else {} if workers is None else {"workers": workers}))
        outcome = run_claims(modules, ctx, out, command, verbose=verbose and main)
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
