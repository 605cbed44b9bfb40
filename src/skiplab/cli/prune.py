"""`skiplab prune --run DIR --rounds N`: iterative magnitude pruning of a finished run, outside the claims. Each
round retrains the run's own recipe in DIR/prune-<hash>/round-rr (a run folder of its own, with masks.safetensors
beside its checkpoint); a finished round is reused and an interrupted one resumes, so the same command continues."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch
import typer
from rich import box
from rich.table import Table
from rich.text import Text

from .. import config as C
from ..errors import ConfigError
from ..pruning import MASKS, PruneConfig, density, imp, load_masks
from ..pruning.masks import PRUNABLE, prunable
from ..train.experiment import build_model, load_data
from ..train.load import read_run_config
from ..train.runs import RESULT, read_result
from .common import out_console, user_errors
from .outputs import check_output


def _check_plan(model: torch.nn.Module, cfg: PruneConfig, rounds: int, named: bool) -> None:
    """Refuse, before round 1 trains, an --exclude that names no layer (a typo would leave the head pruned and
    nothing excluded) or none left to prune, and more rounds than there are weights to prune: a round that would
    prune no weight (round(fraction * alive) = 0, as magnitude_masks counts) only retrains the same mask again.
    `named`: the user gave --exclude (the default, head, is not required to exist)."""
    names = [n for n, m in model.named_modules() if isinstance(m, PRUNABLE)]
    for e in cfg.exclude if named else ():
        if not any(n == e or n.startswith(e + ".") for n in names):
            tops = dict.fromkeys(n.split(".")[0] for n in names)  # the top-level names: a deep net has hundreds
            raise ConfigError(f"--exclude {e}: no conv or linear layer is named so or lies under it; the layers "
                              f"lie under {', '.join(tops)}")
    layers = prunable(model, cfg.exclude)
    if not layers:
        raise ConfigError(f"--exclude {' '.join(cfg.exclude)} leaves no conv or linear layer to prune")
    alive = [m.weight.numel() for m in layers.values()]
    if cfg.scope == "global":
        alive = [sum(alive)]
    for r in range(1, rounds + 1):
        cut = [round(cfg.fraction * a) for a in alive]
        if not any(cut) and r == 1:
            raise ConfigError(f"--fraction {cfg.fraction:g} prunes no weight of the {sum(alive):,} in a round")
        if not any(cut):
            raise ConfigError(f"--rounds {rounds}: round {r} would prune no weight ({sum(alive):,} left at "
                              f"--fraction {cfg.fraction:g}); at most {r - 1} round{'s' * (r != 2)} here")
        alive = [a - c for a, c in zip(alive, cut)]


@user_errors
def prune(run: Path = typer.Option(..., "--run", help="a finished run folder (runs/<kind>/<name>-<hash>/seed-<n>)"),
          rounds: int = typer.Option(..., "--rounds", help="IMP rounds (each prunes --fraction of what is left)"),
          fraction: float = typer.Option(0.2, "--fraction", help="share of the remaining weights pruned per round"),
          scope: str = typer.Option("global", "--scope", help="global (all layers ranked together) or layerwise"),
          rewind_step: int = typer.Option(0, "--rewind-step", help="rewind survivors to the run's weights after "
                                                                  "this many steps (0: its initialization; k > 0 "
                                                                  "needs the run's rewind-k.safetensors)"),
          exclude: Optional[list[str]] = typer.Option(None, "--exclude", help="layers (or prefixes) left dense; "
                                                                              "default: head"),
          verbose: bool = typer.Option(False, "--verbose", "-v", help="print every epoch of every round")) -> None:
    """Find a lottery ticket in a trained run: prune, rewind, retrain, N times (Frankle & Carbin 2019)."""
    if rounds < 1:
        raise ConfigError(f"--rounds must be >= 1, got {rounds}")
    cfg_prune = PruneConfig(fraction=fraction, scope=scope,  # type: ignore[arg-type]
                            exclude=tuple(exclude) if exclude else ("head",), rewind_step=rewind_step)
    cfg = read_run_config(run)
    if read_result(Path(run)) is None:
        raise ConfigError(f"{run}: the run has not finished (no {RESULT}); finish it with skiplab train --resume")
    check_output(run, "--run", folder=True)  # the rounds are trained inside the run folder
    data = load_data(cfg.data)
    _check_plan(build_model(cfg, data), cfg_prune, rounds, named=bool(exclude))
    folder = Path(run) / f"prune-{C.stable_hash(C.to_dict(cfg_prune), n=8)}"
    say = lambda text: out_console.print(text, markup=False)  # noqa: E731  (a path may hold brackets)
    dirs = imp(cfg, Path(run), folder, rounds, cfg_prune, data, say=say, verbose=verbose)
    table = Table(title=f"IMP of {cfg.model.name} on {cfg.data.name} ({fraction:.0%} per round, {scope}, rewind to "
                        f"step {rewind_step})", title_justify="left", box=box.SIMPLE_HEAD)
    for col in ("round", "weights left", "test error", "folder"):
        table.add_column(col, justify="left" if col == "folder" else "right", overflow="fold")
    # folders relative to the run, short enough for the table; the run's own path is printed whole below it (a
    # path in a cell would be cut or folded at 80 columns), so every folder can be copied in full
    base = read_result(Path(run)) or {}
    table.add_row("0", "100.0%", f"{base.get('final', {}).get('test_err', float('nan')):.2%}", "(the run)")
    for r, d in enumerate(dirs, 1):
        kept = density(load_masks(d / MASKS))
        err = (read_result(d) or {}).get("final", {}).get("test_err", float("nan"))
        table.add_row(str(r), f"{kept:.1%}", f"{err:.2%}", Text(str(d.relative_to(run))))
    out_console.print(table)
    say(f"run folder: {run} (the folders above are inside it)")
