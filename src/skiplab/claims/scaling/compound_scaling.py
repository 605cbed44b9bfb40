"""compound-scaling: scaling depth, width and resolution together (d = alpha^phi, w = beta^phi, r = gamma^phi with
alpha * beta^2 * gamma^2 ~ 2) beats scaling one dimension at equal FLOPs (Tan & Le 2019, Sec. 3.3 and Fig. 8).

The base is the EfficientNet-style net (models/families/mbconv.py) at BASE (16 px input resampled from 32 px data, so a
higher resolution sees real detail). Every scaled model is sized to budget_factor (2) x the base's FLOPs within
5% (skiplab.sizing): compound by phi along each grid point's (alpha, beta, gamma) (at quick scale phi lands at
0.4-0.7, not 1: rounding block counts up adds a block per stage at the first step), single-dimension rules by their
own multiplier. With so few blocks and channels, different grid points can round to the same net.
As Tan & Le, a small grid search fixes (alpha, beta, gamma): each grid point trains once on a separate search seed,
and the best one's model is then trained and judged on the claim's seeds (so it is not selected on the runs that
judge it). Those runs depend on the search, so `measure` trains them (reused on later calls)."""

from __future__ import annotations

import math
from typing import Any

from skiplab.claims.scaling.flops_matched import accuracy, chance, flops_of, scale_of, sized, spec, test_examples
from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Claim, Context, Verdict
from skiplab.claims.core.engine import Done, RunSpec, execute
from skiplab.claims.core.stats import chosen, effect, fmt_pct, summary

# Verdict thresholds (written before the quick-scale run; see the rule).
MARGIN = 0.01  # compound must beat a rule by more than 1 accuracy point
LEARNABLE = 0.10  # the base model must beat chance by 10 points on every seed, or nothing is measured
TOLERANCE = 0.05  # FLOPs matched within 5%
# The grid at phi = 1, every point with alpha * beta^2 * gamma^2 within 5% of 2: EfficientNet's own, one leaning
# on depth, one on width, one on resolution.
GRID = ((1.2, 1.1, 1.15), (1.4, 1.1, 1.1), (1.1, 1.2, 1.1), (1.1, 1.1, 1.25))
# The base: three stages of 2/3/3 MBConv blocks (not B0's 1/2/2: with one or two blocks a stage, rounding up
# alpha^phi adds ~50% depth at once and compound points could not be matched in FLOPs), widths 12/20/32.
BASE: dict[str, Any] = {"blocks": (2, 3, 3), "widths": (12, 20, 32)}
MODEL = "effnet"
RULES = {"depth": ("depth_mult", 1.0, 4.0), "width": ("width_mult", 1.0, 3.0),
         "resolution": ("resolution_mult", 1.0, 2.5)}  # single-dimension rules: (field, search range)

CLAIM = Claim(
    id="compound-scaling",
    kind="empirical",
    statement="Scaling depth, width and resolution together (alpha*beta^2*gamma^2 ~ 2) beats scaling one dimension "
              "at equal FLOPs.",
    source="Tan & Le 2019",
    rule=(f"Base EfficientNet-style net on the multi-scale shapes task; every scaled model sized to 2x the base's "
          f"forward FLOPs. Grid search: each (alpha, beta, gamma) of {list(GRID)} trains once on a search seed; the "
          f"most accurate is the compound rule, trained on the judged seeds. Per seed, compound minus each "
          f"single-dimension rule (depth, width, resolution only) in final accuracy on the held-out test split; "
          f"each difference's mean over seeds is judged on its 95% t-interval (widened by the test split's binomial "
          f"noise) against a margin of {MARGIN:.0%} (1 point) raised to 2 binomial standard errors of the two "
          f"accuracies on the test split. Preconditions, else inconclusive: all models within {TOLERANCE:.0%} of "
          f"the budget, no model's resolution above the data's, the base above chance + {LEARNABLE:.0%} on every "
          f"seed. Supported if every difference's interval lies above its margin; not supported if some "
          f"difference's interval lies below its margin; otherwise inconclusive."),
    fair_test=("A small grid of (alpha, beta, gamma) at phi = 1, chosen on a separate search seed; every scaled model "
               "(compound and each single-dimension rule) sized to the same forward FLOPs within 5%; accuracy "
               "against FLOPs per rule on held-out test examples; the data rendered at the highest resolution any "
               "model uses, so resolution scaling sees real detail; the base must learn the task."),
)


def base_args(ctx: Context) -> dict[str, Any]:
    return {**BASE, "resolution": scale_of(ctx).resolution}


def _budget_flops(ctx: Context) -> float:
    s = scale_of(ctx)
    return s.budget_factor * flops_of(ctx, MODEL, base_args(ctx), s.objects)


def compound_args(ctx: Context, abg: tuple[float, float, float]) -> dict[str, Any]:
    a, b, g = abg
    return sized(ctx, MODEL, _budget_flops(ctx), scale_of(ctx).objects, "phi", 0.2, 2.0, alpha=a, beta=b, gamma=g,
                 **base_args(ctx)).overrides


def rule_args(ctx: Context, rule: str) -> dict[str, Any]:
    knob, lo, hi = RULES[rule]
    return sized(ctx, MODEL, _budget_flops(ctx), scale_of(ctx).objects, knob, lo, hi, **base_args(ctx)).overrides


def _spec(ctx: Context, args: dict[str, Any], seed: int) -> RunSpec:
    return spec(ctx, MODEL, args, scale_of(ctx).objects, seed, ladder=True)


def base_runs(ctx: Context) -> list[RunSpec]:
    return [_spec(ctx, base_args(ctx), s) for s in ctx.seed_list]


def rule_runs(ctx: Context, rule: str) -> list[RunSpec]:
    return [_spec(ctx, rule_args(ctx, rule), s) for s in ctx.seed_list]


def grid(ctx: Context) -> tuple[tuple[float, float, float], ...]:
    """The grid; a smoke run (ctx.max_steps) checks the procedure on its first two points."""
    return GRID[:2] if ctx.max_steps is not None else GRID


def search_runs(ctx: Context) -> list[RunSpec]:
    return [_spec(ctx, compound_args(ctx, abg), scale_of(ctx).search_seed) for abg in grid(ctx)]


def runs(ctx: Context) -> list[RunSpec]:
    return base_runs(ctx) + search_runs(ctx) + [sp for r in RULES for sp in rule_runs(ctx, r)]


def _point(ctx: Context, done: Done, label: str, specs: list[RunSpec]) -> dict[str, Any]:
    args = dict(specs[0].run.model.overrides)
    model = done.model(specs[0], trained=False)
    return {"label": label, "args": args, "flops": flops_of(ctx, MODEL, args, scale_of(ctx).objects),
            "resolution": model.config.effective_resolution, "blocks": len(model.block_names()),
            "acc": [accuracy(done, sp) for sp in specs]}


def measure(ctx: Context, done: Done) -> dict[str, Any]:
    s = scale_of(ctx)
    search = [{"abg": list(abg), "phi": compound_args(ctx, abg)["phi"], "acc": accuracy(done, sp),
               "flops": flops_of(ctx, MODEL, dict(sp.run.model.overrides), s.objects)}
              for abg, sp in zip(grid(ctx), search_runs(ctx))]
    finite = [p for p in search if math.isfinite(p["acc"])]
    best = max(finite, key=lambda p: p["acc"]) if finite else search[0]
    picked = [_spec(ctx, compound_args(ctx, tuple(best["abg"])), seed) for seed in ctx.seed_list]
    # The chosen point depends on the search's results, so it cannot be declared in runs(): the engine trains it here.
    execute(picked, done, say=lambda m: ctx.say(f"  compound-scaling (chosen grid point): {m}"), workers=ctx.workers)
    points = [_point(ctx, done, "base", base_runs(ctx)), _point(ctx, done, "compound", picked)]
    points += [_point(ctx, done, f"{r} only", rule_runs(ctx, r)) for r in RULES]
    return {"budget": _budget_flops(ctx), "base_flops": points[0]["flops"], "search": search, "chosen": best["abg"],
            "points": points, "data_size": max(done.dataset(picked[0]).info.shape[1:]),
            "examples": test_examples(done, picked[0]),
            "chance": chance(ctx, s.objects), "seeds": ctx.seed_list}


def verdict(evidence: dict[str, Any]) -> Verdict:
    pts = {p["label"]: p for p in evidence["points"]}
    comp, budget = pts["compound"], evidence["budget"]
    scaled = [p for p in evidence["points"] if p["label"] != "base"]
    if not all(math.isfinite(a) for p in evidence["points"] for a in chosen(p["acc"])):
        return Verdict(INCONCLUSIVE, "precondition failed: an accuracy is missing or not finite (diverged run)")
    miss = [p["label"] for p in scaled if abs(p["flops"] / budget - 1) > TOLERANCE]
    if miss:
        return Verdict(INCONCLUSIVE, f"precondition failed: {', '.join(miss)} not within {TOLERANCE:.0%} of the "
                                     f"FLOPs budget {budget:.3g}")
    over = [p["label"] for p in evidence["points"] if p["resolution"] > evidence["data_size"]]
    if over:
        return Verdict(INCONCLUSIVE, f"precondition failed: {', '.join(over)} use a resolution above the data's "
                                     f"{evidence['data_size']} px (upsampling adds no information)")
    base = chosen(pts["base"]["acc"])
    if not all(a > evidence["chance"] + LEARNABLE for a in base):
        return Verdict(INCONCLUSIVE, f"precondition failed: the base model is not above chance + {LEARNABLE:.0%} "
                                     f"on every seed ({fmt_pct(summary(base))}): the task is not learned")
    effects = {p["label"]: effect(f"compound - {p['label']}", [c - a for c, a in zip(comp["acc"], p["acc"])], MARGIN,
                                  examples=evidence["examples"], rates=[comp["acc"], p["acc"]], held_out=True)
               for p in scaled if p is not comp}
    said = (f"compound {fmt_pct(summary(chosen(comp['acc'])))} (alpha, beta, gamma = {tuple(evidence['chosen'])}) "
            f"at {comp['flops']:.3g} FLOPs; " + "; ".join(e.text() for e in effects.values()))
    if all(e.call == "above" for e in effects.values()):
        return Verdict(SUPPORTED, f"compound scaling beats every single-dimension rule beyond the margin: {said}")
    losing = [k for k, e in effects.items() if e.call == "below"]
    if losing:
        return Verdict(NOT_SUPPORTED, f"compound scaling does not beat {', '.join(losing)} beyond the margin: "
                                      f"{said}")
    return Verdict(INCONCLUSIVE, f"an interval straddles its margin: {said}")


def present(evidence: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    rows = [[p["label"], p["flops"], p["blocks"], p["resolution"],
             ", ".join(f"{k}={v:.3g}" for k, v in p["args"].items() if k in ("phi", "depth_mult", "width_mult",
                                                                              "resolution_mult")) or "-",
             summary(p["acc"])] for p in evidence["points"]]
    rows += [[f"search {tuple(p['abg'])}", p["flops"], None, None, f"phi={p['phi']:.3g}",
              summary([p["acc"]])] for p in evidence["search"]]
    numbers = {"columns": ["model", "FLOPs", "blocks", "input px", "scaling", "test accuracy"], "rows": rows,
               "format": {"FLOPs": "int", "blocks": "int", "input px": "int", "scaling": "text",
                          "test accuracy": "percent"}}
    series = []
    for g, p in enumerate(evidence["points"]):
        st = summary(p["acc"])
        series.append({"label": p["label"], "x": [p["flops"]], "y": [st["mean"]], "yerr": [st["std"]], "group": g,
                       "style": "points"})
    series.append({"label": "grid search (search seed)", "x": [p["flops"] for p in evidence["search"]],
                   "y": [p["acc"] for p in evidence["search"]], "group": len(series), "style": "points"})
    fig = {"id": "compound-scaling-accuracy", "title": "Accuracy vs FLOPs: compound vs single-dimension scaling",
           "caption": f"Final test accuracy (mean +- std over seeds) against forward FLOPs per example; every scaled "
                      f"model sized to {evidence['budget']:.3g} FLOPs (2x the base). Grid points: one search seed.",
           "panels": [{"title": "multi-scale shapes", "kind": "line", "xlabel": "forward FLOPs per example",
                       "ylabel": "test accuracy", "xscale": "log", "series": series,
                       "hlines": [{"y": evidence["chance"], "label": "chance"}]}]}
    return numbers, [fig]


def budget(ctx: Context) -> str:
    return (f"multi-scale shapes; base EfficientNet-style net (blocks {BASE['blocks']}, widths {BASE['widths']}), "
            f"{len(GRID)} grid points x 1 search seed, then base, compound and 3 single-dimension rules per seed; "
            + scale_of(ctx).describe(ctx.seeds, scale_of(ctx).ladder))
