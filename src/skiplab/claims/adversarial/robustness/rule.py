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
          f"rates (above / below the margin, or straddling it). Part 1: ResNet, plain twin and VGG-style net, one "
          f"recipe, per seed compared at snapshots matched on held-out clean accuracy (target: the lowest of the "
          f"nets' best accuracies; each net's latest snapshot within {MATCH / 2:.1%} of it). R = mean robust "
          f"accuracy over the nonzero epsilons of the L-inf and L2 grids (per-example worst of FGSM and two PGDs, "
          f"carried over smaller epsilons). Inconclusive if the chosen clean accuracies differ by more than "
          f"{MATCH:.0%} on any seed (match failed). Supported if R(ResNet) - R(plain) and R(ResNet) - R(VGG) are "
          f"both above the margin; not supported if one of them is below it; otherwise inconclusive. Part 2: "
          f"Lipschitz-budget ResNets at budgets c; with s = mean L2 robust accuracy / clean accuracy (the share of "
          f"right answers that survive: a rate on the n x clean examples classified right, the fewest of any run "
          f"compared), smallest c vs largest c: supported if the clean accuracy drop (largest c - smallest c) and "
          f"the share gain (smallest c - largest c) are both above the margin; not supported if the share gain is "
          f"below it; otherwise inconclusive. The claim: not supported if either part is, supported if both are, "
          f"otherwise inconclusive. Certified bounds and empirical lower bounds are reported, not judged."),
    fair_test=("Per-example worst of FGSM and PGD against epsilon, on held-out examples, with the nets compared at "
               "checkpoints matched on clean accuracy; the Lipschitz constraint is on operator norms (not reshaped "
               "kernels) so the certified bound holds; the attack code is checked on a known answer (the exact "
               "worst case of a linear model)."),
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
        return INCONCLUSIVE, f"precondition failed: clean accuracies differ by {max(spread):.2%} > {MATCH:.0%} " \
                             f"on some seed (no matched checkpoints); mean robust accuracy {means}"
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
    lo, hi = min(ev["budgets"]), max(ev["budgets"])
    a, b = ev["budget_runs"][f"{lo:g}"], ev["budget_runs"][f"{hi:g}"]
    clean_a, clean_b = [x["clean"] for x in a], [y["clean"] for y in b]
    share_a, share_b = [robust_share(x) for x in a], [robust_share(y) for y in b]
    if not all(math.isfinite(v) for vals in (clean_a, clean_b, share_a, share_b) for v in chosen(vals)):
        return INCONCLUSIVE, "a clean or robust accuracy is missing or not finite"
    n = ev["examples"]
    drop = _rate_effect(f"clean accuracy c = {hi:g} - c = {lo:g}", clean_b, clean_a, n)
    # A share counts the examples that survive among those classified right (robust implies clean right: the
    # curve carries over from epsilon 0), so it is a rate on n x clean examples; the fewest over the runs compared
    # gives the conservative binomial noise.
    right = max(1, math.floor(n * min(chosen(clean_a) + chosen(clean_b))))
    gain = effect(f"robust share c = {lo:g} - c = {hi:g}", [x - y for x, y in zip(share_a, share_b)], MARGIN,
                  examples=right, rates=[share_a, share_b], held_out=True)
    said = f"{drop.text()}; {gain.text()}"
    if gain.call == "below":
        return NOT_SUPPORTED, f"a tighter budget does not buy robustness beyond the margin: {said}"
    if drop.call == "above" and gain.call == "above":
        return SUPPORTED, f"a tighter budget trades clean accuracy for robustness: {said}"
    return INCONCLUSIVE, f"an interval straddles the margin, or no clear cost: {said}"


def verdict(evidence: dict[str, Any]) -> Verdict:
    (v1, why1), (v2, why2) = _part1(evidence), _part2(evidence)
    reason = f"ResNet vs plain/VGG {v1}: {why1}. Lipschitz budget {v2}: {why2}"
    if NOT_SUPPORTED in (v1, v2):
        return Verdict(NOT_SUPPORTED, reason)
    return Verdict(SUPPORTED if v1 == v2 == SUPPORTED else INCONCLUSIVE, reason)
