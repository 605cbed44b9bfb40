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
from skiplab.claims.core.stats import chosen, effect

EXPLODE = 1e3  # h = 1 "blows up": both ratios at the deepest depth exceed 1e3 (or overflow float64)
BOUND = 10.0  # a scaled variant "stays bounded": both ratios within [1/10, 10] at every depth
TRAINED = 0.5  # a net "trains": its loss falls below half the chance loss ln(10) (0.5 * 2.303 = 1.15 nats)
MARGIN = 0.1  # and h = 1 must end at least 0.1 nats worse (or diverge) than every scaled variant
CHANCE = math.log(10)
# An interval needs finite values, and a few huge ones would swamp it. A log10 ratio is clipped to
# [-SATURATE, SATURATE], SATURATE = twice log10 EXPLODE (a million-fold change): beyond it, how much further a ratio
# went says nothing more about whether it passed 1e3 or stayed within 10x, and a ratio that overflowed float64 has
# no value at all (it counts as SATURATE). A diverged run, or any loss above WORST, counts as WORST = 10x the chance
# loss: far worse than any net that learned, so an arm that diverges on every seed gives a clear (and finite)
# difference, while seeds that disagree (some diverge, some train) give a wide interval.
SATURATE = 2 * math.log10(EXPLODE)
WORST = 10 * CHANCE

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
          f"training depth (a diverged run, or any loss above {WORST / CHANCE:g} ln 10, counts as that; every "
          f"log10 ratio is clipped to +-{SATURATE:g}, an overflowed one counts as {SATURATE:g}). Precondition: the "
          f"batch-normed ResNet trains (loss < {TRAINED:g} ln 10) on every seed, else inconclusive. Effects, each "
          f"a mean over seeds on its 95% t-interval, margins raised to 2 seed-to-seed standard errors where "
          f"larger: (a) h=1's log10 min(r_fwd, r_grad) at the deepest depth against log10 {EXPLODE:g}; for every "
          f"scaled variant ({', '.join(SCALED)}): (b) its largest |log10 r| over both ratios and all depths "
          f"against log10 {BOUND:g}, (c) its loss against {TRAINED:g} ln 10, (d) the paired loss difference h=1 "
          f"minus it against {MARGIN:g} nats. Supported if (a) lies above its margin, every (b) and (c) below "
          f"theirs (bounded, trains) and every (d) above it. Not supported if (a) lies below, or some (b) or (c) "
          f"above, or some (d) below its margin. Otherwise inconclusive."),
    fair_test=("Norm-free residual MLPs, He-initialised as the sources analyse, so the h = 1 branch doubles the "
               "signal variance per block; signal and gradient norms vs depth at init up to >= 1000 blocks; the "
               "training loss after the same number of SGD steps at depth >= 100 with one learning rate for every "
               "variant, beside the plain twin and a batch-normed ResNet, which must train for the budget to be "
               "fair."),
)


def or_inf(v: float | None) -> float:
    """A ratio or loss, with a missing or non-finite one (overflowed, diverged) as infinitely bad."""
    return math.inf if v is None or not math.isfinite(v) else v


def _ratio(v: float | None) -> float:
    """A log10 ratio for an interval: clipped to [-SATURATE, SATURATE], an overflowed (missing) one as SATURATE."""
    return max(-SATURATE, min(or_inf(v), SATURATE))


def _loss(v: float | None) -> float:
    """A loss for an interval: a diverged one, or any loss above WORST, as WORST."""
    return min(or_inf(v), WORST)


def _spread(seed_init: dict[str, Any]) -> float:
    """The largest |log10 ratio| over both ratios and every depth (bounded: below log10 BOUND)."""
    return max(abs(_ratio(v)) for v in seed_init["fwd"] + seed_init["grad"])


def verdict(evidence: dict[str, Any]) -> Verdict:
    bn = chosen([or_inf(t["loss"]) for t in evidence["train"]["batchnorm"]])
    if not all(v < TRAINED * CHANCE for v in bn):
        return Verdict(INCONCLUSIVE, f"precondition failed: the batch-normed ResNet did not train on every seed "
                                     f"(losses {', '.join(f'{v:.3g}' for v in bn)})")
    deep = evidence["depths"][-1]
    blow = effect(f"h=1 log10 min(r_fwd, r_grad) at depth {deep} (clipped at {SATURATE:g})",
                  [min(_ratio(i["fwd"][-1]), _ratio(i["grad"][-1])) for i in evidence["init"]["h=1"]],
                  math.log10(EXPLODE))
    h1_loss = [_loss(t["loss"]) for t in evidence["train"]["h=1"]]
    bounded, trains, beats = {}, {}, {}
    for v in SCALED:
        bounded[v] = effect(f"{v} max |log10 r|", [_spread(i) for i in evidence["init"][v]], math.log10(BOUND))
        loss = [_loss(t["loss"]) for t in evidence["train"][v]]
        trains[v] = effect(f"{v} loss", loss, TRAINED * CHANCE)
        beats[v] = effect(f"h=1 minus {v} loss", [a - b for a, b in zip(h1_loss, loss)], MARGIN)
    effects = [blow] + [e for v in SCALED for e in (bounded[v], trains[v], beats[v])]
    said = "; ".join(e.text() for e in effects)
    good = [blow.call == "above"] + [bounded[v].call == "below" and trains[v].call == "below"
                                     and beats[v].call == "above" for v in SCALED]
    if all(good):
        return Verdict(SUPPORTED, f"h=1 explodes, every scaled variant stays bounded and trains better: {said}")
    if blow.call == "below":
        return Verdict(NOT_SUPPORTED, f"h=1 does not blow up: {said}")
    bad = [v for v in SCALED if bounded[v].call == "above" or trains[v].call == "above" or beats[v].call == "below"]
    if bad:
        return Verdict(NOT_SUPPORTED, f"{', '.join(bad)} clearly left the bound, failed to train or did not beat "
                                      f"h=1 by the margin: {said}")
    return Verdict(INCONCLUSIVE, f"an interval straddles its margin: {said}")
