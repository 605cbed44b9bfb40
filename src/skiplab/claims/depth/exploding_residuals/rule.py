"""exploding-residuals: without normalization an unscaled branch (h = 1) makes signals and gradients grow with
depth; scaling the branch (h = 1/sqrt(L), h = 1/L, a zero-initialised learnable scalar as in SkipInit/ReZero,
Fixup) restores trainability.

Two measurements on the norm-free residual MLP (pre-activation blocks, so x_{l+1} = x_l + h F(x_l) exactly):
(a) at initialization, in float64 on a fixed Gaussian batch, the forward ratio ||x_L|| / ||x_0|| and the backward
    ratio ||d<v, x_L>/dx_0|| / ||v|| (v a fixed Gaussian direction: the head is left out because Fixup zeroes
    it, which would make every gradient 0) against depth; (b) the training loss after a fixed number of SGD steps
    at one depth, every variant with the same learning rate, beside a plain net and a batch-normed ResNet.

Every Linear layer is re-drawn with He init, the setting the sources analyse (Zhang et al. 2019, Sec. 2): a He
branch preserves its input's variance, so with h = 1 each block doubles it. PyTorch's default Linear init (the MLP
family's) shrinks a ReLU branch ~36x in variance, which would test a different question. Fixup inits itself."""

from __future__ import annotations

import math
from typing import Any


from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Claim, Verdict
from skiplab.claims.core.stats import fmt, summary

EXPLODE = 1e3  # h = 1 "blows up": both ratios at the deepest depth exceed 1e3 (or overflow float64)
BOUND = 10.0  # a scaled variant "stays bounded": both ratios within [1/10, 10] at every depth
TRAINED = 0.5  # a net "trains": its loss falls below half the chance loss ln(10) (0.5 * 2.303 = 1.15 nats)
MARGIN = 0.1  # and h = 1 must end at least 0.1 nats worse (or diverge) than every scaled variant
CHANCE = math.log(10)

SCALED = ("h=1/sqrt(L)", "h=1/L", "rezero", "fixup")
VARIANTS = ("h=1",) + SCALED + ("plain", "batchnorm")


CLAIM = Claim(
    id="exploding-residuals",
    kind="empirical",
    statement="Without normalization an unscaled branch (h=1) makes signals and gradients grow with depth; scaling "
              "the branch (h ~ 1/sqrt(L), 1/L, a zero-initialised learnable scalar as in SkipInit/ReZero, Fixup) "
              "restores trainability.",
    source="Zhang et al. 2019 (Fixup); De & Smith 2020 (SkipInit); Bachlechner et al. 2020 (ReZero)",
    rule=(f"Norm-free residual MLPs, He-initialised. (i) At init, float64: r_fwd = ||x_L||/||x_0||, r_grad = "
          f"||d<v,x_L>/dx_0||/||v||. (ii) Training loss on the training set after the stated SGD steps at the "
          f"training depth (diverged = infinitely bad). Precondition: the batch-normed ResNet trains (loss < "
          f"{TRAINED:g} ln 10) on every seed, else inconclusive. Supported if on every seed: h=1 has both ratios "
          f"> {EXPLODE:g} (or overflowing) at the deepest depth; every scaled variant ({', '.join(SCALED)}) "
          f"keeps both within [1/{BOUND:g}, {BOUND:g}] at every depth; and every scaled variant trains (loss < "
          f"{TRAINED:g} ln 10) and beats h=1 by more than {MARGIN:g} nats. Not supported if on every seed h=1 "
          f"stays under {EXPLODE:g}, or some scaled variant leaves the bound on every seed, or some scaled variant "
          f"fails to train or to beat h=1 by the margin on every seed. Otherwise inconclusive."),
)


def or_inf(v: float | None) -> float:
    """A ratio or loss, with a missing or non-finite one (overflowed, diverged) as infinitely bad."""
    return math.inf if v is None or not math.isfinite(v) else v


def _bounded(seed_init: dict[str, Any]) -> bool:
    return all(abs(or_inf(v)) < math.log10(BOUND) for v in seed_init["fwd"] + seed_init["grad"])


def verdict(evidence: dict[str, Any]) -> Verdict:
    n = len(evidence["seeds"])
    bn = [or_inf(t["loss"]) for t in evidence["train"]["batchnorm"]]
    if not all(v < TRAINED * CHANCE for v in bn):
        return Verdict(INCONCLUSIVE, f"precondition failed: the batch-normed ResNet did not train on every seed "
                                     f"(losses {', '.join(f'{v:.3g}' for v in bn)})")
    h1 = [min(or_inf(i["fwd"][-1]), or_inf(i["grad"][-1])) for i in evidence["init"]["h=1"]]
    blows = [v > math.log10(EXPLODE) for v in h1]
    bounded = {v: [_bounded(i) for i in evidence["init"][v]] for v in SCALED}
    h1_loss = [or_inf(t["loss"]) for t in evidence["train"]["h=1"]]
    trains = {v: [or_inf(t["loss"]) < TRAINED * CHANCE and h1_loss[i] - or_inf(t["loss"]) > MARGIN
                  for i, t in enumerate(evidence["train"][v])] for v in SCALED}
    said = (f"h=1 at depth {evidence['depths'][-1]}: log10 min(r_fwd, r_grad) per seed "
            f"{', '.join('overflow' if math.isinf(v) else f'{v:.3g}' for v in h1)}; scaled variants bounded on "
            f"{sum(map(sum, bounded.values()))}/{n * len(SCALED)} (variant, seed) pairs and train better than h=1 "
            f"on {sum(map(sum, trains.values()))}/{n * len(SCALED)}; loss at depth {evidence['train_depth']}: "
            + ", ".join(f"{v} {fmt(summary([or_inf(t['loss']) for t in evidence['train'][v]]))}"
                        for v in ("h=1",) + SCALED))
    if all(blows) and all(all(b) for b in bounded.values()) and all(all(t) for t in trains.values()):
        return Verdict(SUPPORTED, f"h=1 explodes, every scaled variant stays bounded and trains better: {said}")
    if not any(blows):
        return Verdict(NOT_SUPPORTED, f"h=1 does not blow up: {said}")
    bad = [v for v in SCALED if not any(bounded[v]) or not any(trains[v])]
    if bad:
        return Verdict(NOT_SUPPORTED, f"{', '.join(bad)} did not stay bounded or train better on any seed: {said}")
    return Verdict(INCONCLUSIVE, f"seeds or variants disagree: {said}")


