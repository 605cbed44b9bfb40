"""degradation-cause: the story says the degradation is "largely caused by the vanishing gradient problem"; He et
al. (2016, Sec. 4.1) argue the opposite: with batch norm the gradients of their plain nets have healthy norms."""

from __future__ import annotations

import math
from typing import Any

from skiplab.claims.depth import degradation
from skiplab.claims.depth.signals import log_first_over_last
from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Claim, Context, Verdict
from skiplab.claims.depth.ladder import LADDER_SCALES, ladder_runs, scale_config, spec
from skiplab.claims.core.engine import Done
from skiplab.claims.core.stats import band, effect, summary

SCALES = LADDER_SCALES  # reads only the depth ladder's runs: --scale cifar runs it

FACTOR = 2.0  # "clearly smaller": the deep plain net's relative early-layer signal is at least 2x smaller

CLAIM = Claim(
    id="degradation-cause",
    kind="empirical",
    statement="The degradation of deep plain nets is largely caused by vanishing gradients (the story); He et al. "
              "argue the opposite: with batch norm the gradients do not vanish.",
    source="He et al. 2016, Sec. 4.1",
    rule=(f"From the degradation runs: r = log(g_first / g_last), the scale-invariant gradient signal "
          f"g_l = ||dL/dx_l|| ||x_l|| at the stem output relative to the last block, on a fixed training batch in "
          f"train mode, averaged over the epochs of training. Precondition: the degradation itself is observed "
          f"(the degradation claim's interval of plain train error deep minus shallow lies above its margin), "
          f"else inconclusive. The effect is the per-seed paired gap r(shallow plain) - r(deep plain), its mean "
          f"judged on a 95% t-interval against a margin of log {FACTOR:g} (the deep plain net's early layers get "
          f"at least {FACTOR:g}x less signal), raised to 2 seed-to-seed standard errors where larger: supported "
          f"if the interval lies above the margin, not supported if below it, otherwise inconclusive."),
    fair_test=("Read from the degradation runs themselves (the same nets, budget and seeds), only once the "
               "degradation is observed; the gradient signal is scale-invariant (||dL/dx_l|| ||x_l||, so a "
               "rescaled layer cannot fake a vanishing gradient), taken on a fixed training batch through "
               "training, deep vs shallow plain net; supported only if the deep plain net's early-layer signal "
               "is clearly smaller."),
)


def runs(ctx: Context):
    return ladder_runs(ctx)


def measure(ctx: Context, done: Done) -> dict[str, Any]:
    scale = scale_config(ctx)
    curves: dict[str, Any] = {}
    for fam in ("plain", "resnet"):
        for d in scale.depths:
            curves[f"{fam}-{d}"] = [
                [{"epoch": r["epoch"], "r": log_first_over_last(r)} for r in done.gradients(spec(ctx, fam, d, s))]
                for s in ctx.seed_list]
    return {"depths": list(scale.depths), "curves": curves, "degradation": degradation.measure(ctx, done)}


def trained_mean(seed_curve: list[dict[str, Any]]) -> float:
    vals = [p["r"] for p in seed_curve if p["epoch"] > 0 and math.isfinite(p["r"])]
    return sum(vals) / len(vals) if vals else float("nan")


def verdict(evidence: dict[str, Any]) -> Verdict:
    shallow, deep = min(evidence["depths"]), max(evidence["depths"])
    deg = degradation.plain_effect(evidence["degradation"])
    if deg.call != "above":
        return Verdict(INCONCLUSIVE, f"precondition failed: the degradation itself is not observed ({deg.text()}; "
                                     f"see the degradation claim), so there is nothing to explain")
    gap = [trained_mean(s) - trained_mean(d) for s, d in zip(evidence["curves"][f"plain-{shallow}"],
                                                             evidence["curves"][f"plain-{deep}"])]
    e = effect(f"r(plain-{shallow}) - r(plain-{deep})", gap, math.log(FACTOR))
    said = f"{e.text()}, registered margin log {FACTOR:g}; precondition: {deg.text()}"
    if e.call == "above":
        return Verdict(SUPPORTED, f"the deep plain net's early-layer gradient signal is clearly smaller: {said}")
    if e.call == "below":
        return Verdict(NOT_SUPPORTED, f"the deep plain net's early layers do not get clearly less gradient "
                                      f"signal, as He et al. argue: {said}")
    return Verdict(INCONCLUSIVE, f"the interval straddles the margin: {said}")


def present(evidence: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    rows, panels = [], []
    for fam in ("plain", "resnet"):
        series = []
        for g, d in enumerate(evidence["depths"]):
            seeds = evidence["curves"][f"{fam}-{d}"]
            rows.append([fam, d, summary([trained_mean(s) for s in seeds]),
                         summary([next((p["r"] for p in s if p["epoch"] == 0), float("nan")) for s in seeds])])
            mean, std = band([[p["r"] for p in s] for s in seeds])
            series.append({"label": f"{fam}-{d}", "group": g, "x": [p["epoch"] for p in seeds[0][:len(mean)]],
                           "y": mean, "yerr": std})
        panels.append({"title": "plain" if fam == "plain" else "residual", "kind": "line", "xlabel": "epoch",
                       "ylabel": "log(g_first / g_last)", "series": series, "hlines": [{"y": 0.0, "label": "equal"}]})
    numbers = {"columns": ["net", "depth", "r during training", "r at init"], "rows": rows,
               "format": {"r during training": "float", "r at init": "float"}}
    fig = {"id": "degradation-cause-signal", "title": "Early-layer gradient signal relative to the last block",
           "caption": "r = log(g_first / g_last) with g_l = ||dL/dx_l|| ||x_l||; below 0 the early layers get less "
                      "signal. Epoch 0 is initialization; mean over seeds, band = +-1 std.", "panels": panels}
    return numbers, [fig]


def budget(ctx: Context) -> str:
    return scale_config(ctx).describe(ctx.seeds)
