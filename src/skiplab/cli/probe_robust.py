"""`skiplab probe attack|lipschitz --run DIR`: robust accuracy of a trained run against epsilon (worst of FGSM and
two PGDs per example), and its Lipschitz bounds per block (upper, from operator norms) with the empirical lower
bound. Registered on `probe_app` (cli/probe.py)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table
from ..attacks import NORMS, robust_curve, standard_attacks
from ..data import pixel_range
from ..errors import ConfigError
from ..models import calibrate_batchnorm
from ..models.families.lipschitz import budgeted, tighten
from ..probes.lipschitz import certified_accuracy, lipschitz_bounds, margin_gradients
from .common import user_errors
from .listing import fits
from .probe import (_DEVICE, _JSON, _RUN, _SEED, _g, _held_out, _inputs, _load, _pick, _save, _say, _show, _table,
                    probe_app)

FLOAT32_MAX = 3.4028234663852886e38  # torch.finfo(torch.float32).max

_CALIBRATE = typer.Option(1024, "--calibrate", help="training examples for the batch-norm statistics")
_EXAMPLES = typer.Option(256, "--examples", "-n", help="held-out (test) examples attacked")


def _robust_table(title: str, curves: dict[str, list[float]], eps: list[float]) -> Table:
    """A row per attack and a column per epsilon: attack names (pgd10x1-linf-margin-cosine) are too long for column
    headers at 80 columns, and a name column keeps them whole. Where the epsilons are too many for the terminal
    even so (their numbers would fold), a row per attack and epsilon instead."""
    table = _table(f"{title}; accuracy at epsilon", ["attack"] + [_g(e) for e in eps], left=("attack",))
    for name, acc in curves.items():
        table.add_row(name, *(f"{a:.2%}" for a in acc))
    if fits(table):
        return table
    table = _table(title, ["attack", "epsilon", "accuracy"], left=("attack",))
    for name, acc in curves.items():
        for i, (e, a) in enumerate(zip(eps, acc)):
            table.add_row(name if i == 0 else "", _g(e), f"{a:.2%}", end_section=i == len(eps) - 1)
    return table


@probe_app.command("attack")
@user_errors
def attack(run: Path = _RUN,
           norm: str = typer.Option("linf", "--norm", help="linf or l2 (pixel space; inputs in the data's range)"),
           eps: Optional[List[float]] = typer.Option(None, "--eps", help="an epsilon (repeat the option); default "
                                                                         "linf 1/255..8/255, l2 0.1..1"),
           steps: int = typer.Option(10, "--steps", help="steps of each PGD"),
           restarts: int = typer.Option(1, "--restarts", help="random restarts of each PGD"),
           examples: int = _EXAMPLES, calibrate: int = _CALIBRATE, seed: int = _SEED, device: str = _DEVICE,
           json_out: Optional[Path] = _JSON) -> None:
    """Robust accuracy against epsilon: an example counts only if FGSM, PGD (cross-entropy) and PGD (margin,
    cosine steps) all fail on it, at this epsilon and every smaller one. Eval mode, batch norm calibrated."""
    _inputs(json_out, seed)
    if norm not in NORMS:
        raise ConfigError(f"--norm must be one of {', '.join(NORMS)}, got {norm!r}")
    grid = sorted({0.0, *(eps or ((1 / 255, 2 / 255, 4 / 255, 8 / 255) if norm == "linf" else (0.1, 0.25, 0.5, 1)))})
    # finite in float32, the attacks' precision: NaN would sort anywhere and pass `>= 0`, and inf or 1e308
    # would only fail inside torch
    bad = [e for e in grid if not 0 <= e <= FLOAT32_MAX]
    if bad:
        raise ConfigError(f"--eps must be a finite number >= 0 (at most {FLOAT32_MAX:.4g}), got {bad[0]}")
    if steps < 1 or restarts < 1 or calibrate < 1:
        raise ConfigError("--steps, --restarts and --calibrate must be >= 1")
    model, data, cfg, dev = _load(run, device)
    xs, _ = _pick(data, calibrate, seed)
    mode = calibrate_batchnorm(model, xs.to(dev))
    x, y = _held_out(data, examples)
    c = robust_curve(model, x.to(dev), y.to(dev), grid, standard_attacks(norm, steps, restarts), pixel_range(data),
                     seed=seed)  # type: ignore[arg-type]
    _show(_robust_table(f"robust accuracy: {cfg.model.name} on {cfg.data.name}, {c['examples']} held-out examples, "
                        f"{norm}, {mode}", {"worst of all": c["accuracy"], **c["per_attack"]}, c["eps"]))
    _save(json_out, {"probe": "attack", "run": str(run), "seed": seed, "mode": mode, **c})


@probe_app.command("lipschitz")
@user_errors
def lipschitz(run: Path = _RUN, examples: int = _EXAMPLES, calibrate: int = _CALIBRATE, seed: int = _SEED,
              device: str = _DEVICE, json_out: Optional[Path] = _JSON) -> None:
    """L2 Lipschitz bounds of the logits: per block Lip(F) and the block's 1 + Lip(F) (operator norms of every
    layer; convolutions with their stride and padding, batch norm's eval scale), their product for the whole net,
    and the empirical lower bound max ||grad of the logit margin|| / sqrt(2) over held-out examples."""
    _inputs(json_out, seed)
    if calibrate < 1:
        raise ConfigError("--calibrate must be >= 1")
    model, data, cfg, dev = _load(run, device)
    xs, _ = _pick(data, calibrate, seed)
    mode = calibrate_batchnorm(model, xs.to(dev))
    if budgeted(model):
        tighten(model)  # exact norms behind the budget, so the certificate holds
    x, y = _held_out(data, examples)
    try:
        b = lipschitz_bounds(model, x[:1].to(dev))
    except ValueError as e:
        raise ConfigError(f"lipschitz: {e} (model {cfg.model.name}); bounds cover additive, additive-post and plain "
                          "blocks") from None
    low = margin_gradients(model, x.to(dev), y.to(dev))
    table = _table(f"Lipschitz bounds (L2): {cfg.model.name} on {cfg.data.name}, {mode}",
                   ["block", "kind", "Lip(F) <=", "Lip(block) <="], left=("block", "kind"))
    for blk in b["blocks"]:
        table.add_row(blk["name"], blk["kind"], _g(blk["branch"]), _g(blk["block"]))
    _show(table)
    cert = certified_accuracy(model, x.to(dev), y.to(dev), b["total"], [0.1, 0.5])
    _say(f"normalize {_g(b['normalize'])} x stem {_g(b['stem'])} x blocks x head {_g(b['head'])}: "
         f"Lip(logits) <= {_g(b['total'])}; empirical lower bound {_g(low['lower_bound'])} "
         f"({len(y)} held-out examples); certified L2 accuracy at 0.1 / 0.5: {cert[0]:.2%} / {cert[1]:.2%}")
    _save(json_out, {"probe": "lipschitz", "run": str(run), "seed": seed, **b, "lower_bound": low["lower_bound"],
                     "margin_gradient_max": low["max"], "certified": {"0.1": cert[0], "0.5": cert[1]}})
