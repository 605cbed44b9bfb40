"""vanishing-gradients: in a plain chain the gradient reaching early layers shrinks (or blows up) geometrically
with depth, as a product of layer Jacobians; the identity path keeps it well-conditioned."""

from __future__ import annotations

import math
from typing import Any

from skiplab.claims.depth.signals import at_epoch, layer_signals, log_first_over_last
from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Claim, Context, Verdict
from skiplab.claims.depth.ladder import LADDER_SCALES, ladder_runs, scale_config, spec
from skiplab.claims.core.engine import Done
from skiplab.claims.core.stats import chosen, effect, fmt, slope, summary

SCALES = LADDER_SCALES  # reads only the depth ladder's runs: --scale cifar runs it

MIN_SLOPE = 0.02  # per weighted layer: over 48 layers (depth 8 -> 56) at least e^0.96 ~ 2.6x change in the ratio
RATIO = 2.0  # the residual slope must be at most half the plain one
# The conditioning effect is judged on the per-seed difference |s_plain| / RATIO - |s_residual|, which is >= 0
# exactly when the residual slope is at most 1/RATIO of the plain one: its own threshold is 0, so the margin used
# is 2 seed-to-seed standard errors (stats.effect raises it).
GAIN_MARGIN = 0.0

CLAIM = Claim(
    id="vanishing-gradients",
    kind="empirical",
    statement="In a plain chain the gradient reaching early layers shrinks (or blows up) geometrically with depth; "
              "the identity path keeps it well-conditioned.",
    source="seed text (the residual-network story)",
    rule=(f"Per seed, the slope s of log(g_first / g_last) against depth (weighted layers), with "
          f"g_l = ||dL/dx_l|| ||x_l|| on a fixed training batch (train-mode batch norm), read twice: at "
          f"initialization and after the ladder's training budget. s < 0: the early-layer signal vanishes with "
          f"depth; s > 0: it explodes. At each time two effects, each a mean over seeds on its 95% t-interval, "
          f"margins raised to 2 seed-to-seed standard errors where larger: (1) the plain slope s_plain against "
          f"+-{MIN_SLOPE} per layer (two-sided); (2) the per-seed gain |s_plain| / {RATIO:g} - |s_residual| against "
          f"{GAIN_MARGIN:g}. A time supports the claim if the plain interval lies beyond +{MIN_SLOPE} or "
          f"-{MIN_SLOPE} (one direction of geometric trend) and the gain interval lies above its margin (the "
          f"residual slope is at most 1/{RATIO:g} of the plain one); it contradicts it if the plain interval lies "
          f"within (-{MIN_SLOPE}, +{MIN_SLOPE}) (no geometric trend) or the gain interval lies below its margin; "
          f"otherwise it is unclear. The claim is about the nets one trains, so both times are judged with the "
          f"same thresholds: supported if both support it, not supported if either contradicts it, otherwise "
          f"inconclusive; inconclusive too if a trained record is missing or a signal is not finite."),
    fair_test=("The gradient signal is scale-invariant (||dL/dx_l|| ||x_l|| at every layer, so a rescaled layer "
               "cannot fake it), measured on the same fixed training batch at initialization and after training "
               "for plain and residual twins at >= 3 depths; the slope of log(first/last) against depth is fitted per seed, and "
               "the report says whether the plain net's signal vanishes or explodes."),
)


def runs(ctx: Context):
    return ladder_runs(ctx)


def measure(ctx: Context, done: Done) -> dict[str, Any]:
    scale = scale_config(ctx)
    out: dict[str, Any] = {"depths": list(scale.depths), "seeds": ctx.seed_list, "nets": {}}
    for fam in ("plain", "resnet"):
        for d in scale.depths:
            per_seed = []
            for s in ctx.seed_list:
                recs = done.gradients(spec(ctx, fam, d, s))
                init, last = at_epoch(recs, 0), (recs[-1] if recs else None)
                per_seed.append({"init": layer_signals(init) if init else [],
                                 "trained": layer_signals(last) if last and last["epoch"] > 0 else [],
                                 "r_init": log_first_over_last(init) if init else float("nan"),
                                 "r_trained": log_first_over_last(last) if last and last["epoch"] > 0 else float("nan")})
            out["nets"][f"{fam}-{d}"] = per_seed
    return out


def slopes(evidence: dict[str, Any], fam: str, when: str = "init") -> list[float]:
    depths = evidence["depths"]
    return [slope(depths, [evidence["nets"][f"{fam}-{d}"][i][f"r_{when}"] for d in depths])
            for i in range(len(evidence["seeds"]))]


WHEN = {"init": "at init", "trained": "trained"}


def judge_time(evidence: dict[str, Any], when: str) -> tuple[str, str]:
    """(call, reason) at one time ("init" or "trained"): call is supported, not supported or unclear."""
    sp, sr = slopes(evidence, "plain", when), slopes(evidence, "resnet", when)
    trend = effect(f"plain slope of log(g_first/g_last) per layer {WHEN[when]}", sp, MIN_SLOPE)
    gain = effect(f"|plain slope| / {RATIO:g} - |residual slope| {WHEN[when]}",
                  [abs(p) / RATIO - abs(r) for p, r in zip(sp, sr)], GAIN_MARGIN)
    said = f"{trend.text()}; {gain.text()}; residual slope {fmt(summary(chosen(sr)))}"
    if trend.sign in ("positive", "negative") and gain.call == "above":
        direction = "vanishes" if trend.sign == "negative" else "explodes"
        return SUPPORTED, (f"{WHEN[when]}, the plain net's early-layer signal {direction} geometrically with depth "
                           f"and the residual net's does much less: {said}")
    if trend.sign == "null":
        return NOT_SUPPORTED, f"{WHEN[when]}, no geometric trend with depth in the plain net: {said}"
    if gain.call == "below":
        return NOT_SUPPORTED, f"{WHEN[when]}, the identity path does not improve the conditioning {RATIO:g}x: {said}"
    return "unclear", f"{WHEN[when]}, an interval straddles its margin: {said}"


def verdict(evidence: dict[str, Any]) -> Verdict:
    values = [v for fam in ("plain", "resnet") for w in WHEN for v in chosen(slopes(evidence, fam, w))]
    if not all(math.isfinite(v) for v in values):
        return Verdict(INCONCLUSIVE, "precondition failed: a gradient signal is missing or not finite (at "
                                     "initialization or after training)")
    calls = [judge_time(evidence, w) for w in WHEN]
    reason = ". ".join(why for _, why in calls)
    if any(c == NOT_SUPPORTED for c, _ in calls):
        return Verdict(NOT_SUPPORTED, reason)
    if all(c == SUPPORTED for c, _ in calls):
        return Verdict(SUPPORTED, reason)
    return Verdict(INCONCLUSIVE, reason)


def present(evidence: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    depths = evidence["depths"]
    rows = []
    for fam in ("plain", "resnet"):
        for when in ("init", "trained"):
            rows.append([fam, when, summary(slopes(evidence, fam, when))]
                        + [summary([s[f"r_{when}"] for s in evidence["nets"][f"{fam}-{d}"]]) for d in depths])
    numbers = {"columns": ["net", "when", "slope per layer"] + [f"r at depth {d}" for d in depths], "rows": rows,
               "format": {"slope per layer": "float", **{f"r at depth {d}": "float" for d in depths}}}
    profile_panels = []
    for fam in ("plain", "resnet"):
        series = []
        for g, d in enumerate(depths):
            for when, style in (("init", "solid"), ("trained", "dashed")):
                prof = evidence["nets"][f"{fam}-{d}"][0][when]
                if prof:
                    series.append({"label": f"{fam}-{d} {when}", "group": g, "style": style,
                                   "x": list(range(len(prof))), "y": prof})
        profile_panels.append({"title": "plain" if fam == "plain" else "residual", "kind": "line",
                               "xlabel": "layer (0 = stem output, then blocks)", "ylabel": "||dL/dx_l|| ||x_l||",
                               "yscale": "log", "series": series})
    trend = []
    for g, fam in enumerate(("plain", "resnet")):
        for when, style in (("init", "solid"), ("trained", "dashed")):
            st = [summary([s[f"r_{when}"] for s in evidence["nets"][f"{fam}-{d}"]]) for d in depths]
            trend.append({"label": f"{fam} {when} (slope {fmt(summary(slopes(evidence, fam, when)), 2)})",
                          "group": g, "style": style, "x": depths, "y": [v["mean"] for v in st],
                          "yerr": [v["std"] for v in st]})
    figs = [
        {"id": "vanishing-profile", "title": "Gradient signal per layer (seed 0)",
         "caption": "Solid: at initialization; dashed: trained. Scale-invariant g_l = ||dL/dx_l|| ||x_l||.",
         "panels": profile_panels},
        {"id": "vanishing-trend", "title": "log(g_first / g_last) against depth",
         "caption": "Mean over seeds, band = +-1 std; the verdict reads the slopes at initialization (solid) "
                    "and trained (dashed), with the same thresholds.",
         "panels": [{"title": "plain vs residual", "kind": "line", "xlabel": "depth (weighted layers)",
                     "ylabel": "log(g_first / g_last)", "series": trend, "hlines": [{"y": 0.0, "label": "equal"}]}]},
    ]
    return numbers, figs


def budget(ctx: Context) -> str:
    return scale_config(ctx).describe(ctx.seeds)
