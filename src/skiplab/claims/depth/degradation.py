"""degradation: past some depth a plain net gets worse *training* error with more layers; a residual net of the
same depth does not (He et al. 2016, Fig. 1 and 6)."""

from __future__ import annotations

from typing import Any

from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Claim, Context, Verdict
from skiplab.claims.depth.ladder import ladder_runs, scale_config, spec
from skiplab.claims.core.engine import Done
from skiplab.claims.core.stats import agreement, band, fmt_pct, summary

MARGIN = 0.01  # a depth effect counts when it moves full-pass train error by more than 1 percentage point
TARGET = 0.01  # the budget is long enough only if the deepest residual net gets below 1% train error, every seed

CLAIM = Claim(
    id="degradation",
    kind="empirical",
    statement="Past some depth a plain net gets worse training error with more layers (56 worse than 20); a "
              "residual net of the same depth does not.",
    source="He et al. 2016, Fig. 1 and Fig. 6",
    rule=(f"Full-pass train error (eval mode, no augmentation) after the same budget, per seed, deepest minus "
          f"shallowest depth. Precondition: the deepest residual net is below {TARGET:.0%} train error on every "
          f"seed, else inconclusive (budget too short); this also bounds the residual net's own depth effect "
          f"below {MARGIN:.0%}. Supported if the plain difference exceeds {MARGIN:.0%} (1 point) on every seed; "
          f"not supported if it is below {MARGIN:.0%} on every seed; otherwise inconclusive (seeds disagree)."),
)


def runs(ctx: Context):
    return ladder_runs(ctx)


def _train_err(row: dict[str, Any]) -> float:
    return row.get("train_full_err", row.get("train_err", float("nan")))


def measure(ctx: Context, done: Done) -> dict[str, Any]:
    scale = scale_config(ctx)
    nets: dict[str, Any] = {}
    for fam in ("plain", "resnet"):
        for d in scale.depths:
            per_seed = []
            for s in ctx.seed_list:
                rows = done.metrics(spec(ctx, fam, d, s))
                per_seed.append({"seed": s, "status": done.result(spec(ctx, fam, d, s))["status"],
                                 "epochs": [r["epoch"] for r in rows],
                                 "train_err": [_train_err(r) for r in rows],
                                 "test_err": [r.get("test_err", float("nan")) for r in rows]})
            nets[f"{fam}-{d}"] = {"family": fam, "depth": d, "seeds": per_seed}
    return {"depths": list(scale.depths), "seeds": ctx.seed_list, "nets": nets}


def final_errors(evidence: dict[str, Any], fam: str, depth: int, key: str = "train_err") -> list[float]:
    return [s[key][-1] if s[key] else float("nan") for s in evidence["nets"][f"{fam}-{depth}"]["seeds"]]


def verdict(evidence: dict[str, Any]) -> Verdict:
    shallow, deep = min(evidence["depths"]), max(evidence["depths"])
    res_deep = final_errors(evidence, "resnet", deep)
    if not all(e < TARGET for e in res_deep):
        return Verdict(INCONCLUSIVE, f"precondition failed: resnet-{deep} train error {fmt_pct(summary(res_deep))}"
                                     f" is not below {TARGET:.0%} on every seed; the budget is too short")
    plain_diff = [a - b for a, b in zip(final_errors(evidence, "plain", deep), final_errors(evidence, "plain", shallow))]
    res_diff = [a - b for a, b in zip(res_deep, final_errors(evidence, "resnet", shallow))]
    plain = agreement(plain_diff, MARGIN)
    said = (f"plain-{deep} minus plain-{shallow} train error {fmt_pct(summary(plain_diff))}; resnet-{deep} minus "
            f"resnet-{shallow} {fmt_pct(summary(res_diff))}")
    if plain == "above":
        return Verdict(SUPPORTED, f"the deep plain net trains worse and the deep residual net does not: {said}")
    if plain == "below":
        return Verdict(NOT_SUPPORTED, f"no degradation of the plain net beyond {MARGIN:.0%}: {said}")
    return Verdict(INCONCLUSIVE, f"seeds disagree or the effect sits at the {MARGIN:.0%} margin: {said}")


def _curve(evidence: dict[str, Any], fam: str, depth: int, key: str) -> dict[str, Any]:
    seeds = evidence["nets"][f"{fam}-{depth}"]["seeds"]
    mean, std = band([s[key] for s in seeds])
    return {"x": seeds[0]["epochs"][:len(mean)], "y": mean, "yerr": std}


def present(evidence: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    rows = []
    for fam in ("plain", "resnet"):
        for d in evidence["depths"]:
            rows.append([fam, d, summary(final_errors(evidence, fam, d)),
                         summary(final_errors(evidence, fam, d, "test_err"))])
    numbers = {"columns": ["net", "depth", "train error", "test error"], "rows": rows,
               "format": {"train error": "percent", "test error": "percent"}}
    panels = []
    for fam, title in (("plain", "plain"), ("resnet", "residual")):
        series = []
        for g, d in enumerate(evidence["depths"]):
            series.append({"label": f"{fam}-{d} train", "style": "solid", "group": g,
                           **_curve(evidence, fam, d, "train_err")})
            series.append({"label": f"{fam}-{d} test", "style": "dashed", "group": g,
                           **{k: v for k, v in _curve(evidence, fam, d, "test_err").items() if k != "yerr"}})
        panels.append({"title": title, "kind": "line", "xlabel": "epoch", "ylabel": "error", "yscale": "log",
                       "series": series, "hlines": [{"y": TARGET, "label": f"{TARGET:.0%}"}]})
    fig = {"id": "degradation-curves", "title": "Error through training, plain (left) vs residual (right)",
           "caption": "Solid: full-pass training error; dashed: test error; mean over seeds, band = +-1 std "
                      "(He et al. Fig. 6 layout).", "panels": panels}
    return numbers, [fig]


def budget(ctx: Context) -> str:
    return scale_config(ctx).describe(ctx.seeds)
