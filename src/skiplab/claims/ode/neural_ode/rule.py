"""neural-ode: a continuous-depth ODE-Net matches a ResNet with far fewer parameters; its NFE grows in training;
the adjoint trains in memory constant in depth (Chen et al. 2018).

Four nets per dataset, the same recipe each: the ODE-Net (dopri5, adjoint), the RK-Net (RK4, backprop through
its steps), a ResNet of the usual size and a ResNet whose widths are scaled to the ODE-Net's parameter count.
NFE per training step is recorded every epoch; the bytes autograd saves for backward are counted exactly for the
ODE-Net's block solved by RK4 at 1..32 steps, adjoint vs backprop. Training runs inside `measure` (its NFE
recorder is no shared run's probe), in single-thread worker processes."""

from __future__ import annotations

from typing import Any

from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Claim, Verdict
from skiplab.claims.core.stats import fmt_pct, summary

MARGIN = {"quick": 0.02, "full": 0.01}  # ODE-Net accuracy may trail a ResNet by at most this (one-sided)
FEWER = 0.5  # "far fewer parameters": at most half the usual ResNet's (Chen et al.: 0.22M vs 0.60M = 0.37)
MATCH = 0.10  # the parameter-matched ResNet is within 10% of the ODE-Net's count, else the comparison is void
ADJ_FLAT = 1.3  # adjoint saved bytes grow by less than 1.3x from the fewest to the most solver steps ...
BP_GROWS = 4.0  # ... while backprop's grow by more than 4x (32x the steps; a smaller growth = broken measurement)
NETS = ("odenet", "rknet", "resnet", "matched")

CLAIM = Claim(
    id="neural-ode",
    kind="empirical",
    statement="A continuous-depth ODE-Net matches a ResNet with far fewer parameters; its NFE grows in training; "
              "the adjoint trains in memory constant in depth.",
    source="Chen et al. 2018 (MNIST: ResNet 0.41% error 0.60M params, RK-Net 0.47% 0.22M, ODE-Net 0.42% 0.22M)",
    rule=(f"Test accuracy after the same recipe, per dataset and seed. Margin: {MARGIN['quick']:.0%} at quick "
          f"scale (about two binomial standard errors of digits' 450 test examples at 95% accuracy), "
          f"{MARGIN['full']:.0%} at full scale (CIFAR-10's 10,000). Precondition: the matched ResNet's parameters "
          f"are within {MATCH:.0%} of the ODE-Net's, else inconclusive. Supported if on every dataset the ODE-Net's "
          f"mean accuracy is at least each ResNet's (usual and matched) minus the margin, AND the ODE-Net has at "
          f"most {FEWER:g}x the usual ResNet's parameters, AND its mean forward NFE per step in the last epoch "
          f"exceeds the first epoch's on more than half of the (dataset, seed) runs, AND on every dataset the "
          f"adjoint's saved bytes grow < {ADJ_FLAT:g}x from the fewest to the most RK4 steps while backprop's grow "
          f"> {BP_GROWS:g}x. Not supported if on some dataset the ODE-Net trails one of the ResNets by more than "
          f"the margin on every seed, or it has more parameters than the usual ResNet, or its NFE grows on no "
          f"run, or on some dataset backprop's bytes grow > {BP_GROWS:g}x while the adjoint's grow >= "
          f"{ADJ_FLAT:g}x. Otherwise inconclusive."),
)


def _accs(ev: dict, name: str, net: str) -> list[float]:
    return [float("nan") if r["acc"] is None else r["acc"] for r in ev["datasets"][name]["nets"][net]["runs"]]


def _params(ev: dict, name: str, net: str) -> int:
    return ev["datasets"][name]["nets"][net]["runs"][0]["params"]


def nfe_grows(run: dict[str, Any]) -> bool:
    rows = run["nfe"]
    return len(rows) >= 2 and rows[-1]["forward"] > rows[0]["forward"]


def growth(curve: list[int]) -> float:
    return curve[-1] / curve[0]


def verdict(evidence: dict[str, Any]) -> Verdict:
    ev, margin = evidence, evidence["margin"]
    names = list(ev["datasets"])
    for n in names:
        p, m = _params(ev, n, "odenet"), _params(ev, n, "matched")
        if abs(m - p) > MATCH * p:
            return Verdict(INCONCLUSIVE, f"precondition failed on {n}: matched ResNet {m} params vs ODE-Net {p}")
    mean = lambda v: summary(v)["mean"]  # noqa: E731
    close = all(mean(_accs(ev, n, "odenet")) is not None and all(
        mean(_accs(ev, n, r)) is not None and mean(_accs(ev, n, "odenet")) >= mean(_accs(ev, n, r)) - margin
        for r in ("resnet", "matched")) for n in names)
    trails = [f"{n} vs {r}" for n in names for r in ("resnet", "matched")
              if all(not (o >= b - margin) for o, b in zip(_accs(ev, n, "odenet"), _accs(ev, n, r)))]
    ratios = [_params(ev, n, "odenet") / _params(ev, n, "resnet") for n in names]
    # a run of one epoch has no first-to-last change to count
    runs = [r for n in names for r in ev["datasets"][n]["nets"]["odenet"]["runs"] if len(r["nfe"]) >= 2]
    grows = sum(nfe_grows(r) for r in runs)
    mem = {n: (growth(ev["datasets"][n]["memory"]["adjoint"]), growth(ev["datasets"][n]["memory"]["backprop"]))
           for n in names}
    mem_ok = all(a < ADJ_FLAT and b > BP_GROWS for a, b in mem.values())
    mem_bad = [n for n, (a, b) in mem.items() if b > BP_GROWS and a >= ADJ_FLAT]
    said = "; ".join(
        f"{n}: accuracy ODE-Net {fmt_pct(summary(_accs(ev, n, 'odenet')))}, RK-Net "
        f"{fmt_pct(summary(_accs(ev, n, 'rknet')))}, ResNet {fmt_pct(summary(_accs(ev, n, 'resnet')))}, matched "
        f"{fmt_pct(summary(_accs(ev, n, 'matched')))}; params {_params(ev, n, 'odenet')} vs "
        f"{_params(ev, n, 'resnet')}; saved bytes x{mem[n][0]:.2f} adjoint vs x{mem[n][1]:.1f} backprop"
        for n in names) + f"; forward NFE grew on {grows}/{len(runs)} runs (margin {margin:.0%})"
    if close and max(ratios) <= FEWER and runs and grows * 2 > len(runs) and mem_ok:
        return Verdict(SUPPORTED, f"the ODE-Net matches both ResNets with fewer parameters, its NFE grows and the "
                                  f"adjoint's memory is flat: {said}")
    why = ([f"trails on every seed ({', '.join(trails)})"] if trails else []) + \
          (["has more parameters than the usual ResNet"] if max(ratios) > 1 else []) + \
          (["NFE grew on no run"] if runs and grows == 0 else []) + \
          ([f"adjoint memory grows ({', '.join(mem_bad)})"] if mem_bad else [])
    if why:
        return Verdict(NOT_SUPPORTED, f"the ODE-Net {'; '.join(why)}: {said}")
    return Verdict(INCONCLUSIVE, f"seeds or parts disagree: {said}")
