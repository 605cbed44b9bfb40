"""boosting: each block acts as a boosting stage, so the output improves block by block. Measured with the net's
own head applied to the partial sums of a trained pre-activation net (later blocks lesioned: only their
identity/shortcut paths carry the partial sum to the head), against the plain twin where such lesions exist; a
logistic-regression probe per block output is the second view. Reuses the Jacobian claim's runs."""

from __future__ import annotations

import math
from typing import Any

from skiplab.models import calibrate_batchnorm
from skiplab.probes import linear_readout, readout
from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Claim, Context, Verdict
from skiplab.claims.depth.ladder import LADDER_SCALES, jacobian_runs, scale_config, spec
from skiplab.claims.core.engine import Done
from skiplab.claims.core.datasets import calibration_batch, heldout_batch
from skiplab.claims.core.stats import band, chosen, effect, fmt, fmt_pct, summary

SCALES = LADDER_SCALES  # reads only the depth ladder's runs: --scale cifar runs it

# Written before any result was seen. The story's "improves block by block" read as "most blocks improve it":
# the CLAIMS.md rule, 80% of blocks; each block's step counts once, from the stem alone (l = 0) to the whole net.
FRACTION = 0.8
MAX_ERROR = 0.25  # fair test: the whole trained net must have learned (held-out error <= 25%)
CALIBRATION = 1024  # training examples: batch-norm statistics of each partial sum, and the linear probes' fit
HELD_OUT = 1000  # at most this many test examples are scored
FAMILIES = (("preresnet", "residual"), ("plain-preresnet", "plain"))

CLAIM = Claim(
    id="boosting",
    kind="empirical",
    statement="Each block acts as a boosting stage: the output improves block by block.",
    source="seed text (the residual-network story)",
    rule=(f"Trained pre-activation net (the Jacobian claim's runs). For l = 0..L, the partial sum after the "
          f"first l blocks is carried to the head by the shortcut paths alone (blocks l..L-1 lesioned); the net's "
          f"own head reads it, batch norm recalibrated on {CALIBRATION} training examples for each l, and its "
          f"mean cross-entropy on up to {HELD_OUT} held-out test examples is r_l. Per seed, f = fraction of the "
          f"L blocks with r_l < r_(l-1). Precondition: the whole net's held-out error <= {MAX_ERROR:.0%} on "
          f"every seed, else inconclusive. The mean of f over seeds is judged on its 95% t-interval against "
          f"{FRACTION} (raised to 2 seed-to-seed standard errors where larger): supported if the interval lies "
          f"above it, not supported if below it, otherwise inconclusive. Reported alongside: the plain twin (its "
          f"partial "
          f"sums reach the head only past its last shape-changing block) and a logistic-regression probe on "
          f"each pooled block output (fit on the {CALIBRATION} training examples)."),
    fair_test=("The net's own head reads the partial sums x_0 + sum_{i<l} F_i of a trained pre-activation net (where "
               "that sum is exactly what the shortcuts carry), batch norm recalibrated for each partial sum, loss "
               "on held-out examples; the net must have learned (bounded held-out error); the plain twin is shown "
               "beside it; the rule: the loss decreases at >= 80% of the blocks of the residual net."),
)


def runs(ctx: Context):
    return jacobian_runs(ctx)


def budget(ctx: Context) -> str:
    scale = scale_config(ctx)
    return f"preresnet{scale.jacobian_depth} and its plain twin (the Jacobian claim's runs, reused): " \
           + scale.describe(ctx.seeds)


def improving_fraction(losses: list[float | None]) -> float:
    """Fraction of steps l-1 -> l, both readable, where the readout loss falls; NaN if no step is readable."""
    steps = [(a, b) for a, b in zip(losses, losses[1:]) if a is not None and b is not None]
    return sum(b < a for a, b in steps) / len(steps) if steps else float("nan")


def measure(ctx: Context, done: Done) -> dict[str, Any]:
    depth = scale_config(ctx).jacobian_depth
    out: dict[str, Any] = {"depth": depth, "seeds": ctx.seed_list, "nets": {}}
    for fam, label in FAMILIES:
        per_seed = []
        for s in ctx.seed_list:
            sp = spec(ctx, fam, depth, s)
            data = done.dataset(sp)
            net = done.model(sp, trained=True)
            xc, yc = calibration_batch(data, CALIBRATION)
            x, y = heldout_batch(data, HELD_OUT)
            head = readout(net, x, y, calibrate_x=xc)
            calibrate_batchnorm(net, xc)  # the linear probes read the whole net with calibrated statistics
            lin = linear_readout(net, xc, yc, x, y)
            per_seed.append({"head": head, "linear": lin, "fraction": improving_fraction(head["loss"]),
                             "linear_fraction": improving_fraction(lin["loss"]),
                             "error": head["error"][-1]})
        out["nets"][label] = per_seed
    return out


def fractions(evidence: dict[str, Any], label: str = "residual", key: str = "fraction") -> list[float]:
    return [s[key] for s in evidence["nets"][label]]


def verdict(evidence: dict[str, Any]) -> Verdict:
    f = fractions(evidence)
    errors = chosen([s["error"] for s in evidence["nets"]["residual"]])
    if not f or not all(v is not None and math.isfinite(v) for v in chosen(f) + errors):
        return Verdict(INCONCLUSIVE, "precondition failed: no finite readout was measured")
    plain_f = [math.nan if v is None else v for v in chosen(fractions(evidence, "plain"))]  # None: from JSON
    plain = f"plain twin (readable blocks only) {fmt(summary(plain_f))}"
    if any(e > MAX_ERROR for e in errors):
        return Verdict(INCONCLUSIVE, f"precondition failed: held-out error {fmt_pct(summary(errors))} exceeds "
                                     f"{MAX_ERROR:.0%} on some seed")
    e = effect("fraction of blocks that lower the head readout's held-out loss", f, FRACTION)
    said = f"{e.text()}; {plain}"
    if e.call == "above":
        return Verdict(SUPPORTED, f"the readout improves at more than {FRACTION:.0%} of blocks: {said}")
    if e.call == "below":
        return Verdict(NOT_SUPPORTED, f"the readout improves at fewer than {FRACTION:.0%} of blocks: {said}")
    return Verdict(INCONCLUSIVE, f"the interval straddles the margin: {said}")


def _curve(evidence: dict[str, Any], label: str, view: str, what: str) -> tuple[list[int], list, list]:
    """Mean and std over seeds at every readable entry (unavailable plain entries are left out, not drawn)."""
    seeds = evidence["nets"][label]
    keep = [i for i, v in enumerate(seeds[0][view][what]) if v is not None]
    mean, std = band([[s[view][what][i] for i in keep] for s in seeds])
    return keep, mean, std


def present(evidence: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    rows = []
    for _, label in FAMILIES:
        nets = evidence["nets"][label]
        rows.append([label, summary(fractions(evidence, label)), summary([s["head"]["loss"][-1] for s in nets]),
                     summary([min(v for v in s["head"]["loss"] if v is not None) for s in nets]),
                     summary(fractions(evidence, label, "linear_fraction")), summary([s["error"] for s in nets])])
    numbers = {"columns": ["net", "fraction improving (head)", "head loss, whole net", "head loss, best partial",
                           "fraction improving (linear probe)", "held-out error"], "rows": rows,
               "format": {"fraction improving (head)": "float", "head loss, whole net": "float",
                          "head loss, best partial": "float", "fraction improving (linear probe)": "float",
                          "held-out error": "percent"}}
    panels = []
    for view, what, title in (("head", "loss", "the net's own head"), ("linear", "loss", "linear probe"),
                              ("linear", "error", "linear probe")):
        series = []
        for g, (_, label) in enumerate(FAMILIES):
            x, mean, std = _curve(evidence, label, view, what)
            series.append({"label": label, "group": g, "style": "solid", "x": x, "y": mean, "yerr": std})
        panels.append({"title": f"{title}: {what}", "kind": "line", "xlabel": "blocks summed (0 = stem only)",
                       "ylabel": f"held-out {what}", "yscale": "log" if what == "loss" else "linear",
                       "series": series})
    figs = [{"id": "boosting-readout", "title": f"Reading the output after every block, depth {evidence['depth']}",
             "caption": "Mean over seeds, band = +-1 std. The plain twin's partial sums reach its head only after "
                        "its last shape-changing block; the linear probe reads every block output.",
             "panels": panels}]
    return numbers, figs
