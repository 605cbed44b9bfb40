"""unrolled-ensemble's claim, thresholds and verdict (Veit et al. 2016), and the statistics the verdict reads: the
median single-lesion increase of a net, and the error curve E(k) over k random deletions with its largest step as a
fraction of its range."""

from __future__ import annotations

import itertools
import math
import statistics
from typing import Any

from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Claim, Verdict
from skiplab.claims.core.stats import Effect, chosen, effect

# Thresholds, fixed before any result was seen. Errors are fractions; "points" are percentage points.
BARELY = 0.05  # "barely hurts": median single-lesion error increase of a residual net below 5 points
CATASTROPHIC = 0.20  # "catastrophic": the plain twin's median increase above 20 points (Veit et al.: VGG -> chance)
# "grows": E(K) - E(0) above 5 points, more than a single lesion may cost while "barely" hurting; with a smaller rise
# there is no curve whose smoothness could be judged.
RISE = BARELY
# "smoothly": no single step k -> k+1 carries half of the curve's range or more. Over K = 10 steps an even rise puts
# 1/10 of it in each step, and even a geometric rise from 2% to 50% error (25x over 10 steps) puts 0.29 in its last;
# a cliff is one step doing most of the work.
CLIFF = 0.5
MAX_ERROR = 0.25  # fair test: every intact net must have learned (held-out error <= 25%)
EXACT = 1e-12  # verification: relative deviation of the float64 unrolled sum from the forward pass
K_MAX = 10  # random deletions k = 1..10 (at most the eligible blocks)
# Draws per k, fixed from the variance of their mean before the run: a draw's error lies in [0, 1], so its spread is
# at most 0.5 and the standard error of E(k) at most 0.5 / sqrt(64) = 6.25 points on any net. At the largest
# within-seed spread of the former 5-draw quick run (0.31: draws that delete the first block against those that do
# not) it is 0.31 / 8 ~ 3.9 points, so a step k -> k+1 is known to ~5.5 points (1 SE), under a quarter of the step a
# cliff needs on that run's ~48-point range. Cost: ~20 s per quick resnet56 seed, ~2 minutes over 6 seeds, what
# the claim's 5-minute quick budget leaves after training. Where there are at most 64 subsets of size k (k = 1, or
# a short net) all of them are taken: E(k) is then exact.
DRAWS = 64
CALIBRATION, HELD_OUT = 1024, 2000

CLAIM = Claim(
    id="unrolled-ensemble",
    kind="verification + empirical",
    statement="x_L = x_0 + sum_i F_i(x_i); deleting one block of a trained ResNet barely hurts (downsampling blocks "
              "aside), deleting a plain layer is catastrophic; error grows smoothly with the number deleted.",
    source="Veit et al. 2016",
    rule=(f"Verification: on random-weight pre-activation nets in float64, within every run of shape-preserving "
          f"additive blocks x_end = x_start + sum F_i(x_i) (and x_(l+1) = shortcut(x_l) + F(x_l) at a downsampling "
          f"block, where the sum restarts) to relative deviation <= {EXACT:g}. Empirical, on the ladder's trained "
          f"post-activation nets (deepest ResNet; ResNet and plain twin at the middle depth), eval mode, batch norm "
          f"calibrated on {CALIBRATION} training examples, up to {HELD_OUT} held-out test examples. Downsampling "
          f"blocks (output shape differs from input shape) are set apart as by Veit et al.: they enter neither d nor "
          f"the random deletions (their single lesions are reported, not judged). d = median over the other blocks of the error increase when that "
          f"block alone is deleted; E(k) = mean error over {DRAWS} distinct random subsets of k of those blocks (all "
          f"subsets where there are at most {DRAWS}), k = 1..K, K = min({K_MAX}, their number), E(0) = the intact "
          f"error; J = the largest |E(k+1) - E(k)| over k = 0..K-1 divided by max E - min E. Precondition: every "
          f"intact net's error <= {MAX_ERROR:.0%} on every seed, else inconclusive. Effects, each a mean over seeds "
          f"judged on its 95% t-interval: each net's d, the plain twin's d minus the equal-depth ResNet's (paired "
          f"per seed), and the deepest ResNet's rise E(K) - E(0), as rates on the n test examples (margin raised to "
          f"2 binomial standard errors of the two error rates, interval widened by that held-out noise); the "
          f"deepest ResNet's J (margin raised to 2 seed-to-seed standard errors). Supported if the verification "
          f"holds, both ResNets' d lie below {BARELY * 100:g} points, the plain twin's d above "
          f"{CATASTROPHIC * 100:g} points, the rise above {RISE * 100:g} points and J below {CLIFF:g}. Not supported "
          f"if the verification fails, or the plain-minus-ResNet difference lies below {BARELY * 100:g} points (the "
          f"plain twin as robust), or a ResNet's d lies above {CATASTROPHIC * 100:g} points (catastrophic), or the "
          f"rise lies above {RISE * 100:g} points and J above {CLIFF:g} (a cliff). Otherwise inconclusive."),
    fair_test=("Lesions are made on trained nets that have learned (held-out error bounded), in eval mode with "
               "batch norm calibrated on training data, on held-out examples; downsampling blocks are never deleted "
               "(their shortcut changes the shape) and reported apart, the residual net is compared with a plain "
               "twin of equal depth whose layer is replaced by its input where the shape allows, the error curve "
               "is a mean over enough distinct random deletion sets per k for a stable mean, its smoothness a "
               "registered statistic, and the unrolled sum is checked exactly on pre-activation nets, for which it "
               "holds."),
)


def single_increase(study: dict[str, Any]) -> float:
    """Median error increase over the lesionable non-downsampling blocks (NaN if there are none)."""
    base = study["base"]["error"]
    inc = [e - base for e, ch in zip(study["single"]["error"], study["shape_changing"]) if e is not None and not ch]
    return statistics.median(inc) if inc else float("nan")


def k_curve(study: dict[str, Any]) -> list[float]:
    """E(k), k = 1..K: the mean error over the draws of each k."""
    return [sum(row) / len(row) for row in study["random"]["error"]]


def full_curve(study: dict[str, Any]) -> list[float]:
    """E(k), k = 0..K, E(0) the intact net's error."""
    return [study["base"]["error"], *k_curve(study)]


def jump_fraction(curve: list[float]) -> float:
    """J: the largest |step| of the curve as a fraction of its range (1/K for an even rise over K steps, 1 for a
    single step); NaN for a curve of one point or a flat one, whose smoothness says nothing."""
    steps = [abs(b - a) for a, b in itertools.pairwise(curve)]
    span = max(curve) - min(curve) if curve else 0.0
    return max(steps) / span if steps and span > 0 else float("nan")


def roles(evidence: dict[str, Any]) -> tuple[str, str, str]:
    """(deepest ResNet, equal-depth ResNet, plain twin) by family and depth, not by order: results.json sorts keys."""
    nets = evidence["nets"]
    plain = next(lab for lab, v in nets.items() if v["family"] == "plain")
    res = [lab for lab, v in nets.items() if v["family"] == "resnet"]
    deep = max(res, key=lambda lab: nets[lab]["depth"])
    twin = next(lab for lab in res if nets[lab]["depth"] == nets[plain]["depth"])
    return deep, twin, plain


def verdict(evidence: dict[str, Any]) -> Verdict:
    deep, twin, plain = labels = list(roles(evidence))
    studies = {lab: evidence["nets"][lab]["seeds"] for lab in labels}
    d = {lab: [single_increase(s) for s in studies[lab]] for lab in labels}
    base = {lab: [s["base"]["error"] for s in studies[lab]] for lab in labels}
    rel = max(v["max_rel"] for v in evidence["verification"].values())
    if not rel <= EXACT:
        return Verdict(NOT_SUPPORTED, f"the unrolled sum does not reproduce the forward pass: max relative deviation "
                                      f"{rel:.1e}")
    errors = [e for lab in labels for e in chosen(base[lab])]
    if any(e > MAX_ERROR for e in errors) or any(math.isnan(v) for lab in labels for v in chosen(d[lab])):
        return Verdict(INCONCLUSIVE, f"precondition failed: an intact net's held-out error exceeds {MAX_ERROR:.0%} "
                                     f"(max {max(errors):.1%}) or no lesion was measurable")
    n = evidence["examples"]

    def lesioned(lab: str) -> list[float]:  # the error with the median block deleted
        return [b + x for b, x in zip(base[lab], d[lab])]

    def increase(lab: str, margin: float) -> Effect:
        return effect(f"{lab} median single-lesion increase", d[lab], margin, examples=n,
                      rates=[lesioned(lab), base[lab]], held_out=True)

    barely = [increase(lab, BARELY) for lab in (deep, twin)]
    catastrophic = [increase(lab, CATASTROPHIC) for lab in (deep, twin)]
    plain_cat = increase(plain, CATASTROPHIC)
    gap = effect(f"{plain} minus {twin} single-lesion increase", [p - r for p, r in zip(d[plain], d[twin])], BARELY,
                 examples=n, rates=[lesioned(plain), lesioned(twin)], held_out=True)
    curves = [full_curve(s) for s in studies[deep]]
    k = len(curves[0]) - 1
    # E(K) is a mean over draws of rates on the same n examples: its held-out noise is at most one rate's.
    rise = effect(f"{deep} error rise from 0 to {k} blocks deleted", [c[-1] - c[0] for c in curves], RISE,
                  examples=n, rates=[[c[-1] for c in curves], [c[0] for c in curves]], held_out=True)
    # J is a ratio of differences of one net's curve, not a rate: judged against the seed-to-seed noise.
    jump = effect(f"{deep} largest step of E(k) / its range", [jump_fraction(c) for c in curves], CLIFF)
    said = "; ".join(e.text() for e in [*barely, plain_cat, gap, rise, jump]) + \
        f"; unrolled sum max relative deviation {rel:.1e}"
    if (all(e.call == "below" for e in barely) and plain_cat.call == "above" and rise.call == "above"
            and jump.call == "below"):
        return Verdict(SUPPORTED, f"residual lesions barely hurt, plain lesions are catastrophic, the error grows "
                                  f"without a cliff: {said}")
    if gap.call == "below" or any(e.call == "above" for e in catastrophic):
        said = "; ".join(e.text() for e in catastrophic) + f"; {said}"
        return Verdict(NOT_SUPPORTED, f"the plain twin is as robust, or residual lesions are catastrophic: {said}")
    if rise.call == "above" and jump.call == "above":
        return Verdict(NOT_SUPPORTED, f"the error grows by a cliff, one step of k carrying over {CLIFF:g} of its "
                                      f"range: {said}")
    return Verdict(INCONCLUSIVE, f"an interval straddles its margin: {said}")
