"""efficient-blocks: MBConv blocks (depthwise separable convs + squeeze-excitation) reach a given accuracy with fewer
FLOPs than basic residual blocks (Tan & Le 2019; Sandler et al. 2018; Howard et al. 2017).

Same skeleton, data, resolution and recipe (models/families/mbconv.py with block "mbconv" or "basic"): the MBConv points
are compound-scaling's base net and its width-only model at 2x the base's FLOPs (shared runs); the basic-block
nets are sized by width to each of those two FLOPs budgets within 5%. At equal FLOPs, higher accuracy is the same
statement as "a given accuracy at fewer FLOPs" for curves that rise with FLOPs."""

from __future__ import annotations

import math
from typing import Any

from skiplab.claims.scaling import compound_scaling as cs
from skiplab.claims.scaling.flops_matched import accuracy, chance, flops_of, scale_of, sized, spec, test_examples
from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Claim, Context, Verdict
from skiplab.claims.core.engine import Done, RunSpec
from skiplab.claims.core.stats import chosen, effect, fmt_pct, summary

# Verdict thresholds (written before the quick-scale run; see the rule).
MARGIN = 0.01  # MBConv must be more accurate by more than 1 point, averaged over the budgets
LEARNABLE = cs.LEARNABLE
TOLERANCE = cs.TOLERANCE
BASIC = "effnet-basic"

CLAIM = Claim(
    id="efficient-blocks",
    kind="empirical",
    statement="MBConv blocks (depthwise separable + squeeze-excitation) reach a given accuracy with fewer FLOPs than "
              "basic residual blocks.",
    source="Tan & Le 2019",
    rule=(f"Same skeleton, data (multi-scale shapes), resolution and recipe; two FLOPs budgets (compound-scaling's "
          f"base MBConv net and its width-only 2x model); basic-block nets sized by width to each budget. Per seed, "
          f"MBConv minus basic final accuracy on the held-out test split, averaged over the two budgets; its mean "
          f"over seeds is judged on a 95% t-interval (widened by the test split's binomial noise) against a margin "
          f"of {MARGIN:.0%} (1 point) raised to 2 binomial standard errors of the two (budget-averaged) accuracies "
          f"on the test split. Preconditions, else inconclusive: FLOPs within {TOLERANCE:.0%}, the best net above "
          f"chance + {LEARNABLE:.0%} on every seed. Supported if the interval lies above the margin; not supported "
          f"if it lies below it; otherwise inconclusive."),
    fair_test=("Accuracy against FLOPs for MBConv and basic residual blocks in the same skeleton, on the same data "
               "at the same resolution with the same recipe, each basic-block net sized to an MBConv net's forward "
               "FLOPs within 5%, compared per seed on held-out test examples."),
)


def mbconv_points(ctx: Context) -> list[list[RunSpec]]:
    return [cs.base_runs(ctx), cs.rule_runs(ctx, "width")]


def basic_runs(ctx: Context, mb: list[RunSpec]) -> list[RunSpec]:
    s = scale_of(ctx)
    target = flops_of(ctx, cs.MODEL, dict(mb[0].run.model.overrides), s.objects)
    args = sized(ctx, BASIC, target, s.objects, "width_mult", 0.25, 3.0, **cs.base_args(ctx)).overrides
    return [spec(ctx, BASIC, args, s.objects, seed, ladder=True) for seed in ctx.seed_list]


def runs(ctx: Context) -> list[RunSpec]:
    return [sp for mb in mbconv_points(ctx) for sp in mb + basic_runs(ctx, mb)]


def _point(ctx: Context, done: Done, specs: list[RunSpec]) -> dict[str, Any]:
    args = dict(specs[0].run.model.overrides)
    return {"model": specs[0].run.model.name, "args": args,
            "flops": flops_of(ctx, specs[0].run.model.name, args, scale_of(ctx).objects),
            "params": done.model(specs[0], trained=False).num_parameters(),
            "acc": [accuracy(done, sp) for sp in specs]}


def measure(ctx: Context, done: Done) -> dict[str, Any]:
    pairs = [{"mbconv": _point(ctx, done, mb), "basic": _point(ctx, done, basic_runs(ctx, mb))}
             for mb in mbconv_points(ctx)]
    return {"pairs": pairs, "chance": chance(ctx, scale_of(ctx).objects), "seeds": ctx.seed_list,
            "examples": test_examples(done, cs.base_runs(ctx)[0])}


def verdict(evidence: dict[str, Any]) -> Verdict:
    pairs = evidence["pairs"]
    acc = {k: [chosen(p[k]["acc"]) for p in pairs] for k in ("mbconv", "basic")}  # [budget][seed], judged seeds
    if not all(math.isfinite(a) for rows in acc.values() for row in rows for a in row):
        return Verdict(INCONCLUSIVE, "precondition failed: an accuracy is missing or not finite (diverged run)")
    miss = [p for p in pairs if abs(p["basic"]["flops"] / p["mbconv"]["flops"] - 1) > TOLERANCE]
    if miss:
        return Verdict(INCONCLUSIVE, f"precondition failed: a basic-block net misses its FLOPs budget by more than "
                                     f"{TOLERANCE:.0%} ({miss[0]['basic']['flops']} vs {miss[0]['mbconv']['flops']})")
    best = [max(col) for col in zip(*acc["mbconv"], *acc["basic"])]
    if not all(b > evidence["chance"] + LEARNABLE for b in best):
        return Verdict(INCONCLUSIVE, f"precondition failed: no net is above chance + {LEARNABLE:.0%} on every seed")
    # Per seed, each block kind's accuracy averaged over the budgets. Both budgets are measured on the same test
    # examples, so their average's binomial variance is at most that of one rate at the average (p(1 - p) is
    # concave): the average is passed as one rate on those examples, a conservative noise.
    avg = {k: [sum(p[k]["acc"][i] for p in pairs) / len(pairs) for i in range(len(pairs[0][k]["acc"]))]
           for k in ("mbconv", "basic")}
    e = effect("MBConv - basic (mean over budgets)", [m - b for m, b in zip(avg["mbconv"], avg["basic"])], MARGIN,
               examples=evidence["examples"], rates=[avg["mbconv"], avg["basic"]], held_out=True)
    said = "; ".join(f"at {p['mbconv']['flops']:.3g} FLOPs MBConv {fmt_pct(summary(chosen(p['mbconv']['acc'])))} vs "
                     f"basic {fmt_pct(summary(chosen(p['basic']['acc'])))}" for p in pairs)
    said = f"{e.text()}; {said}"
    if e.call == "above":
        return Verdict(SUPPORTED, f"MBConv is more accurate at equal FLOPs beyond the margin: {said}")
    if e.call == "below":
        return Verdict(NOT_SUPPORTED, f"MBConv is not ahead beyond the margin: {said}")
    return Verdict(INCONCLUSIVE, f"the interval straddles the margin: {said}")


def present(evidence: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    rows = [[k, p[k]["flops"], p[k]["params"], f"width_mult={p[k]['args'].get('width_mult', 1.0):.3g}",
             summary(p[k]["acc"])] for p in evidence["pairs"] for k in ("mbconv", "basic")]
    numbers = {"columns": ["blocks", "FLOPs", "params", "scaling", "test accuracy"], "rows": rows,
               "format": {"FLOPs": "int", "params": "int", "scaling": "text", "test accuracy": "percent"}}
    series = []
    for g, k in enumerate(("mbconv", "basic")):
        st = [summary(p[k]["acc"]) for p in evidence["pairs"]]
        series.append({"label": k, "group": g, "x": [p[k]["flops"] for p in evidence["pairs"]],
                       "y": [s["mean"] for s in st], "yerr": [s["std"] for s in st]})
    fig = {"id": "efficient-blocks-accuracy", "title": "Accuracy vs FLOPs: MBConv vs basic residual blocks",
           "caption": "Final test accuracy, mean over seeds, band = +-1 std; same skeleton, data and recipe.",
           "panels": [{"title": "multi-scale shapes", "kind": "line", "xlabel": "forward FLOPs per example",
                       "ylabel": "test accuracy", "xscale": "log", "series": series,
                       "hlines": [{"y": evidence["chance"], "label": "chance"}]}]}
    return numbers, [fig]


def budget(ctx: Context) -> str:
    return ("multi-scale shapes; MBConv at 2 FLOPs budgets (shared with compound-scaling), basic blocks sized to "
            "each; " + scale_of(ctx).describe(ctx.seeds, scale_of(ctx).ladder))
