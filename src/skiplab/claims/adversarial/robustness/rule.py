"""robustness: residual nets are more robust to adversarial perturbations than plain/VGG-like nets at similar clean
accuracy (the story); Su et al. 2018 found VGG nets *more* robust on ImageNet. And constraining Lip(F) per block
trades clean accuracy for robustness.

Fair test. The ResNet, its plain twin (same layers, no shortcuts) and a VGG-style net train with one recipe;
snapshots of the weights along training are scored on the held-out examples the attacks use, and per seed the
nets are compared at matched clean accuracy: the target is the lowest of the three nets' best accuracies (a level
every net reaches), and each net contributes its latest snapshot within MATCH / 2 of it (the closest if none is).
Robust accuracy is the strong evaluation (skiplab.attacks.strong_curve): the per-example worst of FGSM, PGD on the
cross-entropy and PGD on the margin on every example, then PGD from x and from random starts, APGD-CE and APGD-T on
the survivors (pixel space, eval-mode batch norm), carried over smaller epsilons; never above the cheap attacks'
accuracy by construction. The trade-off runs a norm-free ResNet whose branches are held under a Lipschitz budget c
(models/families/lipschitz.py) at a tight and a loose c, both on one longer recipe, matched on clean accuracy the
same way (an undertrained tight net would otherwise pass for a robust one)."""

from __future__ import annotations

import math
from typing import Any

from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Claim, Verdict
from skiplab.claims.core.stats import Effect, chosen, effect, fmt_pct, summary

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
    rule=(f"Every accuracy is a rate on the n held-out test examples the attacks use; each paired per-seed "
          f"difference is judged by its mean over seeds on a 95% t-interval (widened by those examples' binomial "
          f"noise) against a margin of {MARGIN:.0%} (2 points) raised to 2 binomial standard errors of the two "
          f"rates (above / below the margin, or straddling it). Robust accuracy is the strong evaluation: per "
          f"example the worst of FGSM and two PGDs, then on their survivors PGD from x and from random starts, "
          f"APGD-CE and APGD-T, carried over smaller epsilons. Matching (both parts): snapshots of the weights "
          f"along training are scored on the held-out examples; per seed the target is the lowest of the compared "
          f"nets' best accuracies and each net contributes its latest snapshot within {MATCH / 2:.1%} of it (the "
          f"closest if none is). Part 1: ResNet, plain twin and VGG-style net, one recipe; R = mean robust "
          f"accuracy over the nonzero epsilons of the L-inf and L2 grids at the matched snapshots. Inconclusive if "
          f"the chosen clean accuracies differ by more than {MATCH:.0%} on any seed (match failed) or an R is not "
          f"finite. Supported if R(ResNet) - R(plain) and R(ResNet) - R(VGG) are both above the margin; not "
          f"supported if one of them is below it; otherwise inconclusive. Part 2: Lipschitz-budget ResNets at the "
          f"smallest c (c_lo) and the largest c (c_hi), both on one recipe (longer than part 1's), matched the "
          f"same way. G = R_L2(c_lo) - R_L2(c_hi), R_L2 = mean L2 robust accuracy over the nonzero L2 epsilons "
          f"at the matched snapshots; the cost D = clean(c_hi) - clean(c_lo) after equal training (each run's "
          f"final snapshot; the last step both runs reached if one stopped early). Inconclusive if the two chosen "
          f"clean accuracies differ by more than {MATCH:.0%} on any seed or a value is not finite; not supported "
          f"if G is below the margin; supported if G and D are both above it; otherwise inconclusive. The claim: "
          f"not supported if either part is, supported if both are, otherwise inconclusive. Certified L2 "
          f"accuracies, Lipschitz upper bounds and empirical lower bounds are reported, not judged."),
    fair_test=("Per-example worst of cheap and strong (PGD, APGD-CE, APGD-T) attacks against epsilon, on held-out "
               "examples, with the nets (and the two budgets) compared at checkpoints matched on clean accuracy; "
               "the Lipschitz constraint is on operator norms (not reshaped kernels) so the certified bound holds; "
               "the attack code is checked on a known answer (the exact worst case of a linear model)."),
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


def _rate_effect(name: str, a: list[float], b: list[float], n: int) -> Effect:
    """The per-seed difference a - b of two rates on n held-out examples, judged against MARGIN. R is a mean of
    robust accuracies on the same n examples; its binomial variance is at most R(1 - R) / n (p(1 - p) is concave),
    so passing R as the rate is conservative."""
    return effect(name, [x - y for x, y in zip(a, b)], MARGIN, examples=n, rates=[a, b], held_out=True)


def _part1(ev: dict[str, Any]) -> tuple[str, str]:
    spread = [max(c["acc"] for c in m["chosen"].values()) - min(c["acc"] for c in m["chosen"].values())
              for m in chosen(ev["match"])]
    r = {n: [robust_mean(e) for e in ev["curves"][n]] for n in NETS}
    if not all(math.isfinite(v) for vals in r.values() for v in chosen(vals)):
        return INCONCLUSIVE, "a robust accuracy is missing or not finite"
    means = ", ".join(f"{n} {fmt_pct(summary(chosen(r[n])))}" for n in NETS)
    if any(v > MATCH + 1e-12 for v in spread):
        return INCONCLUSIVE, (f"precondition failed: clean accuracies differ by {max(spread):.2%} > {MATCH:.0%} "
                              f"on some seed (no matched checkpoints); mean robust accuracy {means}")
    dp = _rate_effect("R(ResNet) - R(plain)", r["resnet"], r["plain"], ev["examples"])
    dv = _rate_effect("R(ResNet) - R(VGG)", r["resnet"], r["vgg"], ev["examples"])
    said = f"{dp.text()}; {dv.text()}; mean robust accuracy {means}, clean accuracy matched within {max(spread):.2%}"
    if dp.call == "above" and dv.call == "above":
        return SUPPORTED, f"the ResNet is more robust than both beyond the margin: {said}"
    if dp.call == "below" or dv.call == "below":
        other = "its plain twin" if dp.call == "below" else "the VGG net"
        return NOT_SUPPORTED, f"the ResNet is not more robust than {other} beyond the margin: {said}"
    return INCONCLUSIVE, f"an interval straddles the margin: {said}"


def _part2(ev: dict[str, Any]) -> tuple[str, str]:
    lo, hi = (f"{c:g}" for c in (min(ev["budgets"]), max(ev["budgets"])))
    match = ev["budget_match"]
    spread = [abs(m["chosen"][lo]["acc"] - m["chosen"][hi]["acc"]) for m in chosen(match)]
    r_lo, r_hi = ([robust_mean(e, ("l2",)) for e in ev["budget_runs"][c]] for c in (lo, hi))
    clean_lo, clean_hi = ([m["equal"][c]["acc"] for m in match] for c in (lo, hi))
    values = [v for vals in (r_lo, r_hi, clean_lo, clean_hi) for v in chosen(vals)] + spread
    if not all(math.isfinite(v) for v in values):
        return INCONCLUSIVE, "a clean or robust accuracy is missing or not finite"
    means = (f"mean L2 robust accuracy c = {lo} {fmt_pct(summary(chosen(r_lo)))}, c = {hi} "
             f"{fmt_pct(summary(chosen(r_hi)))}")
    if any(v > MATCH + 1e-12 for v in spread):
        return INCONCLUSIVE, (f"precondition failed: the budgets' clean accuracies differ by {max(spread):.2%} > "
                              f"{MATCH:.0%} on some seed (no matched checkpoints); {means}")
    n = ev["examples"]
    gain = _rate_effect(f"G = R_L2(c = {lo}) - R_L2(c = {hi})", r_lo, r_hi, n)
    cost = _rate_effect(f"D = clean accuracy c = {hi} - c = {lo} after equal training", clean_hi, clean_lo, n)
    said = f"{gain.text()}; {cost.text()}; {means}, clean accuracy matched within {max(spread):.2%}"
    if gain.call == "below":
        return NOT_SUPPORTED, (f"at matched clean accuracy a tighter budget does not buy robustness beyond the "
                               f"margin: {said}")
    if gain.call == "above" and cost.call == "above":
        return SUPPORTED, f"a tighter budget trades clean accuracy for robustness: {said}"
    return INCONCLUSIVE, f"an interval straddles the margin, or no clear cost: {said}"


def verdict(evidence: dict[str, Any]) -> Verdict:
    (v1, why1), (v2, why2) = _part1(evidence), _part2(evidence)
    reason = f"ResNet vs plain/VGG {v1}: {why1}. Lipschitz budget {v2}: {why2}"
    if NOT_SUPPORTED in (v1, v2):
        return Verdict(NOT_SUPPORTED, reason)
    return Verdict(SUPPORTED if v1 == v2 == SUPPORTED else INCONCLUSIVE, reason)
