"""robustness: residual nets are more robust to adversarial perturbations than plain/VGG-like nets at similar clean
accuracy (the story); Su et al. 2018 found VGG nets *more* robust on ImageNet. And constraining Lip(F) per block
trades clean accuracy for robustness.

Fair test. The ResNet, its plain twin (same layers, no shortcuts) and a VGG-style net train with one recipe;
snapshots of the weights along training are scored on the held-out examples the attacks use, and per seed the
nets are compared at matched clean accuracy: the target is the lowest of the three nets' best accuracies (a level
every net reaches), and each net contributes its latest snapshot within MATCH / 2 of it (the closest if none is).
Robust accuracy is the per-example worst of FGSM, PGD on the cross-entropy and PGD on the margin (pixel space,
eval-mode batch norm), carried over smaller epsilons (skiplab.attacks.robust_curve). The trade-off runs a
norm-free ResNet whose branches are held under a Lipschitz budget c (models/families/lipschitz.py) at several c."""

from __future__ import annotations

import math
from typing import Any

from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Claim, Verdict
from skiplab.claims.core.stats import agreement, fmt_pct, summary

# Written before any result was seen, and not tuned after.
MATCH = 0.01  # matched clean accuracy: the three chosen checkpoints within 1 point of each other on every seed
MARGIN = 0.02  # an advantage in mean robust accuracy (or robust share) counts when it exceeds 2 points
NETS = ("resnet", "plain", "vgg")

CLAIM = Claim(
    id="robustness",
    kind="empirical",
    statement="Residual nets are more robust to adversarial perturbations than plain/VGG-like nets at similar clean "
              "accuracy; constraining Lip(F) per block trades clean accuracy for robustness.",
    source="seed text; Su et al. 2018 found VGG more robust",
    rule=(f"Part 1: ResNet, plain twin and VGG-style net, one recipe, per seed compared at snapshots matched on "
          f"held-out clean accuracy (target: the lowest of the nets' best accuracies; each net's latest snapshot "
          f"within {MATCH / 2:.1%} of it). R = mean robust accuracy over the nonzero epsilons of the L-inf and L2 "
          f"grids (per-example worst of FGSM and two PGDs, carried over smaller epsilons). Inconclusive if the "
          f"chosen clean accuracies differ by more than {MATCH:.0%} on any seed (match failed). Supported if "
          f"R(ResNet) - R(plain) and R(ResNet) - R(VGG) both exceed {MARGIN:.0%} on every seed; not supported if one "
          f"of them is below {MARGIN:.0%} on every seed; otherwise inconclusive. Part 2: Lipschitz-budget ResNets at "
          f"budgets c; with s = mean L2 robust accuracy / clean accuracy (the share of right answers that survive), "
          f"smallest c vs largest c: supported if clean accuracy is lower by more than {MARGIN:.0%} and s higher by "
          f"more than {MARGIN:.0%} on every seed; not supported if s is higher by less than {MARGIN:.0%} on every "
          f"seed; otherwise inconclusive. The claim: not supported if either part is, supported if both are, "
          f"otherwise inconclusive. Certified bounds and empirical lower bounds are reported, not judged."),
)


def choose(acc: dict[str, list[float]]) -> tuple[float, dict[str, int]]:
    """The matching rule: target = min over nets of their best accuracy; per net the latest snapshot within MATCH/2
    of the target, else the snapshot closest to it. Returns (target, {net: snapshot index})."""
    target = min(max(a) for a in acc.values())
    out = {}
    for n, a in acc.items():
        near = [i for i, v in enumerate(a) if abs(v - target) <= MATCH / 2 + 1e-12]
        out[n] = near[-1] if near else min(range(len(a)), key=lambda i: (abs(a[i] - target), -i))
    return target, out


def robust_mean(entry: dict[str, Any], norms: tuple[str, ...] = ("linf", "l2")) -> float:
    """Mean robust accuracy over the nonzero epsilons of each norm's grid, then over the norms."""
    per = []
    for norm in norms:
        c = entry[norm]
        vals = [a for e, a in zip(c["eps"], c["accuracy"]) if e > 0]
        per.append(sum(vals) / len(vals) if vals else math.nan)
    return sum(per) / len(per)


def robust_share(entry: dict[str, Any]) -> float:
    """s = mean L2 robust accuracy / clean accuracy: the share of right answers that survive the attacks."""
    return robust_mean(entry, ("l2",)) / entry["clean"] if entry["clean"] else math.nan


def _part1(ev: dict[str, Any]) -> tuple[str, str]:
    spread = [max(c["acc"] for c in m["chosen"].values()) - min(c["acc"] for c in m["chosen"].values())
              for m in ev["match"]]
    r = {n: [robust_mean(e) for e in ev["curves"][n]] for n in NETS}
    if not all(math.isfinite(v) for vals in r.values() for v in vals):
        return INCONCLUSIVE, "a robust accuracy is missing or not finite"
    dp = [a - b for a, b in zip(r["resnet"], r["plain"])]
    dv = [a - b for a, b in zip(r["resnet"], r["vgg"])]
    said = (f"mean robust accuracy ResNet {fmt_pct(summary(r['resnet']))}, plain {fmt_pct(summary(r['plain']))}, "
            f"VGG {fmt_pct(summary(r['vgg']))} (ResNet minus plain {fmt_pct(summary(dp))}, minus VGG "
            f"{fmt_pct(summary(dv))}) at clean accuracy matched within {max(spread):.2%}")
    if any(v > MATCH + 1e-12 for v in spread):
        return INCONCLUSIVE, f"precondition failed: clean accuracies differ by {max(spread):.2%} > {MATCH:.0%} " \
                             f"on some seed (no matched checkpoints); {said}"
    if agreement(dp, MARGIN) == "above" and agreement(dv, MARGIN) == "above":
        return SUPPORTED, f"the ResNet is more robust than both on every seed: {said}"
    if agreement(dp, MARGIN) == "below" or agreement(dv, MARGIN) == "below":
        other = "its plain twin" if agreement(dp, MARGIN) == "below" else "the VGG net"
        return NOT_SUPPORTED, f"the ResNet is not more robust than {other} by {MARGIN:.0%} on any seed: {said}"
    return INCONCLUSIVE, f"seeds disagree: {said}"


def _part2(ev: dict[str, Any]) -> tuple[str, str]:
    lo, hi = min(ev["budgets"]), max(ev["budgets"])
    a, b = ev["budget_runs"][f"{lo:g}"], ev["budget_runs"][f"{hi:g}"]
    drop = [y["clean"] - x["clean"] for x, y in zip(a, b)]
    gain = [robust_share(x) - robust_share(y) for x, y in zip(a, b)]
    if not all(math.isfinite(v) for v in drop + gain):
        return INCONCLUSIVE, "a clean or robust accuracy is missing or not finite"
    said = (f"c = {lo:g} vs {hi:g}: clean accuracy lower by {fmt_pct(summary(drop))}, robust share higher by "
            f"{fmt_pct(summary(gain))}")
    if agreement(gain, MARGIN) == "below":
        return NOT_SUPPORTED, f"a tighter budget does not buy robustness: {said}"
    if agreement(drop, MARGIN) == "above" and agreement(gain, MARGIN) == "above":
        return SUPPORTED, f"a tighter budget trades clean accuracy for robustness: {said}"
    return INCONCLUSIVE, f"seeds disagree or no clear cost: {said}"


def verdict(evidence: dict[str, Any]) -> Verdict:
    (v1, why1), (v2, why2) = _part1(evidence), _part2(evidence)
    reason = f"ResNet vs plain/VGG {v1}: {why1}. Lipschitz budget {v2}: {why2}"
    if NOT_SUPPORTED in (v1, v2):
        return Verdict(NOT_SUPPORTED, reason)
    return Verdict(SUPPORTED if v1 == v2 == SUPPORTED else INCONCLUSIVE, reason)

