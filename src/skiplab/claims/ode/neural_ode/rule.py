"""neural-ode: a continuous-depth ODE-Net matches a ResNet with far fewer parameters; its NFE grows in training;
the adjoint trains in memory constant in depth (Chen et al. 2018).

Per dataset, the same recipe each: the ODE-Net (dopri5, adjoint), the RK-Net (RK4, backprop through its steps;
shown, not judged, and left out at quick scale), a ResNet of the usual size and a ResNet whose widths are scaled to the ODE-Net's parameter count.
NFE per training step and the training loss are recorded every epoch (the loss decides whether a net was trained
to a plateau); the bytes autograd saves for backward are counted exactly for the ODE-Net's block solved by RK4 at
1..32 steps, adjoint vs backprop."""

from __future__ import annotations

import math
from typing import Any

from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Claim, Verdict
from skiplab.claims.core.stats import Effect, effect

MARGIN = {"quick": 0.02, "full": 0.01}  # ODE-Net accuracy may trail a ResNet by at most this (one-sided)
FEWER = 0.5  # "far fewer parameters": at most half the usual ResNet's (Chen et al.: 0.22M vs 0.60M = 0.37)
MATCH = 0.10  # the parameter-matched ResNet is within 10% of the ODE-Net's count, else the comparison is void
ADJ_FLAT = 1.3  # adjoint saved bytes grow by less than 1.3x from the fewest to the most solver steps ...
BP_GROWS = 4.0  # ... while backprop's grow by more than 4x (32x the steps; a smaller growth = broken measurement)
GROW = 0.0  # NFE "grows": forward NFE per step, last epoch minus first, above 0 (raised to 2 SE of seed noise)
# Trained to a plateau: over the last quarter of its epochs a run's training loss (the epoch's mean over its steps)
# fell by less than 10% of its value there, or by less than 0.02 nats (under 1% of ln 10, a uniform guess's loss:
# a net that has fitted its training set can keep halving a loss that small without its accuracy moving). A
# quarter: under the cosine or step schedules used, the last quarter runs at a learning rate <= 15% of the peak, so
# a net still falling by more than 10% there was stopped by the budget, not by convergence.
PLATEAU_WINDOW = 0.25
PLATEAU_REL = 0.10
PLATEAU_ABS = 0.02
NETS = ("odenet", "rknet", "resnet", "matched")
JUDGED = ("odenet", "resnet", "matched")  # the nets the verdict compares; each must have plateaued

CLAIM = Claim(
    id="neural-ode",
    kind="empirical",
    statement="A continuous-depth ODE-Net matches a ResNet with far fewer parameters; its NFE grows in training; "
              "the adjoint trains in memory constant in depth.",
    source="Chen et al. 2018 (MNIST: ResNet 0.41% error 0.60M params, RK-Net 0.47% 0.22M, ODE-Net 0.42% 0.22M)",
    rule=(f"Test accuracy after the same recipe, per dataset and seed. Preconditions: the matched ResNet's "
          f"parameters are within {MATCH:.0%} of the ODE-Net's; and every compared net (ODE-Net, ResNet, matched "
          f"ResNet) is trained to a plateau on every dataset: per seed, its training loss (the epoch's mean) fell "
          f"over the last {PLATEAU_WINDOW:.0%} of its epochs (rounded up, from the epoch before them to the last) "
          f"by d = drop / max({PLATEAU_REL:.0%} of the loss at the window's start, {PLATEAU_ABS:g} nats), and the "
          f"95% t-interval of d's mean over seeds (margin 1, raised to 2 seed-to-seed SE) lies below 1; else "
          f"inconclusive (not trained to a plateau). Effects, each a mean over seeds "
          f"judged on its 95% t-interval: per dataset and ResNet (usual, matched), the ResNet's accuracy minus the "
          f"ODE-Net's, paired per seed, against a margin of {MARGIN['quick']:.0%} at quick scale, {MARGIN['full']:.0%} "
          f"at full scale, raised to 2 binomial standard errors of the two arms' accuracies on the test split's n "
          f"examples, whose binomial noise also widens the interval (held out); and the ODE-Net's forward NFE per "
          f"step, last epoch minus first, averaged over the datasets per seed, against {GROW:g} raised to 2 "
          f"seed-to-seed standard errors. Supported if every accuracy interval lies below its margin (the ODE-Net "
          f"trails by less), AND the ODE-Net has at most {FEWER:g}x the usual ResNet's parameters, AND the NFE "
          f"interval lies above its margin, AND on every dataset the adjoint's saved bytes grow < {ADJ_FLAT:g}x "
          f"from the fewest to the most RK4 steps while backprop's grow > {BP_GROWS:g}x. Not supported if some "
          f"accuracy interval lies above its margin (the ODE-Net trails), or the ODE-Net has more parameters than "
          f"the usual ResNet, or the NFE interval lies below its margin, or on some dataset backprop's bytes grow > "
          f"{BP_GROWS:g}x while the adjoint's grow >= {ADJ_FLAT:g}x. Otherwise inconclusive."),
    fair_test=("The ODE-Net is compared on held-out test accuracy with a ResNet of the usual size and with one "
               "scaled to the ODE-Net's parameter count (within 10%), all trained with the same recipe, data and "
               "seeds, each trained to a plateau of its training loss (a registered criterion; a net short of it "
               "makes the verdict inconclusive), within a margin stated in advance; NFE is recorded per epoch through training; the adjoint's "
               "memory is the bytes autograd saves for backward, adjoint vs backprop through the solver, counted "
               "exactly as the number of solver steps grows."),
)


def loss_drop(losses: list[float]) -> float:
    """How far the training loss fell over the last PLATEAU_WINDOW of the epochs, in units of the fall a plateau
    allows: (L[E-w] - L[E]) / max(PLATEAU_REL * L[E-w], PLATEAU_ABS), w = ceil(PLATEAU_WINDOW * E). Below 1: a
    plateau; NaN for a run of one epoch or a non-finite loss (nothing to tell)."""
    n = len(losses)
    if n < 2 or not all(math.isfinite(v) for v in losses):
        return float("nan")
    w = min(n - 1, max(1, math.ceil(PLATEAU_WINDOW * n)))
    start, end = losses[-1 - w], losses[-1]
    return (start - end) / max(PLATEAU_REL * start, PLATEAU_ABS)


def plateau_effect(ev: dict[str, Any], name: str, net: str) -> Effect:
    """`net`'s loss_drop per seed on dataset `name`; plateaued where the interval lies below 1."""
    drops = [loss_drop(r.get("train_loss", [])) for r in ev["datasets"][name]["nets"][net]["runs"]]
    return effect(f"{name}: {net} training-loss fall over the last {PLATEAU_WINDOW:.0%} of epochs / allowed", drops,
                  1.0)


def _accs(ev: dict, name: str, net: str) -> list[float]:
    return [float("nan") if r["acc"] is None else r["acc"] for r in ev["datasets"][name]["nets"][net]["runs"]]


def _params(ev: dict, name: str, net: str) -> int:
    return ev["datasets"][name]["nets"][net]["runs"][0]["params"]


def nfe_growth(run: dict[str, Any]) -> float | None:
    """Forward NFE per step, last epoch minus first (None for a run of one epoch: no change to read)."""
    rows = run["nfe"]
    return rows[-1]["forward"] - rows[0]["forward"] if len(rows) >= 2 else None


def growth(curve: list[int]) -> float:
    return curve[-1] / curve[0]


def nfe_effect(ev: dict[str, Any]) -> Effect:
    """The ODE-Net's NFE growth per seed, averaged over the datasets (NaN for a seed with no run of >= 2 epochs)."""
    names = list(ev["datasets"])
    per_seed = []
    for runs in zip(*(ev["datasets"][n]["nets"]["odenet"]["runs"] for n in names)):
        g = [v for v in (nfe_growth(r) for r in runs) if v is not None]
        per_seed.append(sum(g) / len(g) if g else float("nan"))
    return effect("ODE-Net forward NFE per step, last minus first epoch", per_seed, GROW)


def accuracy_effect(ev: dict[str, Any], name: str, net: str) -> Effect:
    """The ResNet `net`'s test accuracy minus the ODE-Net's on dataset `name`, paired per seed, as rates on the
    test split (held out)."""
    ode, res = _accs(ev, name, "odenet"), _accs(ev, name, net)
    return effect(f"{name}: {net} minus ODE-Net accuracy", [b - a for a, b in zip(ode, res)], ev["margin"],
                  examples=ev["datasets"][name]["test_examples"], rates=[res, ode], held_out=True)


def verdict(evidence: dict[str, Any]) -> Verdict:
    ev = evidence
    names = list(ev["datasets"])
    for n in names:
        p, m = _params(ev, n, "odenet"), _params(ev, n, "matched")
        if abs(m - p) > MATCH * p:
            return Verdict(INCONCLUSIVE, f"precondition failed on {n}: matched ResNet {m} params vs ODE-Net {p}")
    plateaus = [plateau_effect(ev, n, net) for n in names for net in JUDGED]
    accs = [accuracy_effect(ev, n, r) for n in names for r in ("resnet", "matched")]
    nfe = nfe_effect(ev)
    ratios = [_params(ev, n, "odenet") / _params(ev, n, "resnet") for n in names]
    mem = {n: (growth(ev["datasets"][n]["memory"]["adjoint"]), growth(ev["datasets"][n]["memory"]["backprop"]))
           for n in names}
    mem_ok = all(a < ADJ_FLAT and b > BP_GROWS for a, b in mem.values())
    mem_bad = [n for n, (a, b) in mem.items() if b > BP_GROWS and a >= ADJ_FLAT]
    said = "; ".join([e.text() for e in accs] + [nfe.text()] + [
        f"{n}: params {_params(ev, n, 'odenet')} vs {_params(ev, n, 'resnet')}; saved bytes x{mem[n][0]:.2f} "
        f"adjoint vs x{mem[n][1]:.1f} backprop" for n in names])
    short = [p for p in plateaus if p.call != "below"]
    if short:
        return Verdict(INCONCLUSIVE, "not trained to a plateau: " + "; ".join(p.text() for p in short) +
                       f". Otherwise: {said}")
    if all(e.call == "below" for e in accs) and max(ratios) <= FEWER and nfe.call == "above" and mem_ok:
        return Verdict(SUPPORTED, f"the ODE-Net matches both ResNets with fewer parameters, its NFE grows and the "
                                  f"adjoint's memory is flat: {said}")
    trails = [e.name for e in accs if e.call == "above"]
    why = ([f"trails beyond the margin ({', '.join(trails)})"] if trails else []) + \
          (["has more parameters than the usual ResNet"] if max(ratios) > 1 else []) + \
          (["NFE does not grow"] if nfe.call == "below" else []) + \
          ([f"adjoint memory grows ({', '.join(mem_bad)})"] if mem_bad else [])
    if why:
        return Verdict(NOT_SUPPORTED, f"the ODE-Net {'; '.join(why)}: {said}")
    return Verdict(INCONCLUSIVE, f"an interval straddles its margin or the parts disagree: {said}")
