"""degradation: past some depth a plain net gets worse *training* error with more layers; a residual net of the
same depth does not (He et al. 2016, Fig. 1 and 6)."""

from __future__ import annotations

from typing import Any

from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Claim, Context, Verdict
from skiplab.claims.depth.ladder import LADDER_SCALES, ladder_runs, scale_config, spec
from skiplab.claims.core.engine import Done
from skiplab.claims.core.stats import Effect, band, chosen, effect, fmt_pct, summary

SCALES = LADDER_SCALES  # reads only the depth ladder's runs: --scale cifar runs it

MARGIN = 0.01  # a depth effect counts when it moves full-pass train error by more than 1 percentage point
TARGET = 0.01  # the budget is long enough only if the deepest residual net gets below 1% train error, every seed

CLAIM = Claim(
    id="degradation",
    kind="empirical",
    statement="Past some depth a plain net gets worse training error with more layers (56 worse than 20); a "
              "residual net of the same depth does not.",
    source="He et al. 2016, Fig. 1 and Fig. 6",
    rule=(f"Full-pass train error (eval mode, no augmentation, on the whole training split) after the same "
          f"budget; the effect is the per-seed paired difference plain-deepest minus plain-shallowest. "
          f"Precondition: the deepest residual net is below {TARGET:.0%} train error on every seed, else "
          f"inconclusive (budget too short); this also bounds the residual net's own depth effect below "
          f"{MARGIN:.0%}. The mean difference over seeds is judged on its 95% t-interval against a margin of "
          f"{MARGIN:.0%} (1 point), raised to 2 binomial standard errors of one run's two error rates on the "
          f"training split's size where that is larger: supported if the interval lies above the margin, not "
          f"supported if it lies below it, otherwise inconclusive."),
    fair_test=(f"Every net, plain and residual at >= 3 depths, gets the same training budget and its error is "
               f"measured by a full pass over the training split (not held out: the claim is about optimization); "
               f"the budget must be long enough that the deepest residual net reaches < {TARGET:.0%} train error "
               f"on every seed, else the verdict is inconclusive."),
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
    # The error rates are full passes over the training split (capped by max_eval_examples in smoke runs): its
    # size is the n of their binomial noise.
    data = done.dataset(spec(ctx, "plain", scale.depths[0], ctx.seed_list[0]))
    cap = scale.train.max_eval_examples
    n = len(data.train_y) if cap is None else min(cap, len(data.train_y))
    return {"depths": list(scale.depths), "seeds": ctx.seed_list, "train_examples": n, "nets": nets}


def final_errors(evidence: dict[str, Any], fam: str, depth: int, key: str = "train_err") -> list[float]:
    return [s[key][-1] if s[key] else float("nan") for s in evidence["nets"][f"{fam}-{depth}"]["seeds"]]


def plain_effect(evidence: dict[str, Any]) -> Effect:
    """The judged effect: plain-deepest minus plain-shallowest train error, paired per seed, as rates on the
    training split (full pass, not held out). degradation-cause reads it as its precondition."""
    shallow, deep = min(evidence["depths"]), max(evidence["depths"])
    hi, lo = final_errors(evidence, "plain", deep), final_errors(evidence, "plain", shallow)
    return effect(f"plain-{deep} minus plain-{shallow} train error", [a - b for a, b in zip(hi, lo)], MARGIN,
                  examples=evidence["train_examples"], rates=[hi, lo], held_out=False)


def verdict(evidence: dict[str, Any]) -> Verdict:
    shallow, deep = min(evidence["depths"]), max(evidence["depths"])
    res_deep = chosen(final_errors(evidence, "resnet", deep))
    if not all(e < TARGET for e in res_deep):
        return Verdict(INCONCLUSIVE, f"precondition failed: resnet-{deep} train error {fmt_pct(summary(res_deep))}"
                                     f" is not below {TARGET:.0%} on every seed; the budget is too short")
    res_diff = [a - b for a, b in zip(res_deep, chosen(final_errors(evidence, "resnet", shallow)))]
    plain = plain_effect(evidence)
    said = f"{plain.text()}; resnet-{deep} minus resnet-{shallow} {fmt_pct(summary(res_diff))}"
    if plain.call == "above":
        return Verdict(SUPPORTED, f"the deep plain net trains worse and the deep residual net does not: {said}")
    if plain.call == "below":
        return Verdict(NOT_SUPPORTED, f"no degradation of the plain net beyond the margin: {said}")
    return Verdict(INCONCLUSIVE, f"the interval straddles the margin: {said}")


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
