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
from skiplab.claims.scaling.flops_matched import accuracy, chance, flops_of, scale_of, sized, spec
from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Claim, Context, Verdict
from skiplab.claims.core.engine import Done, RunSpec
from skiplab.claims.core.stats import agreement, fmt_pct, summary

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
          f"MBConv minus basic final test accuracy, averaged over the two budgets. Preconditions, else inconclusive: "
          f"FLOPs within {TOLERANCE:.0%}, the best net above chance + {LEARNABLE:.0%} on every seed. Supported if "
          f"MBConv is ahead by more than {MARGIN:.0%} (1 point) on every seed; not supported if it is ahead by more "
          f"than {MARGIN:.0%} on no seed; otherwise inconclusive."),
)


def mbconv_points(ctx: Context) -> list[list[RunSpec]]:
    return [cs.base_runs(ctx), cs.rule_runs(ctx, "width")]


def basic_runs(ctx: Context, mb: list[RunSpec]) -> list[RunSpec]:
    s = scale_of(ctx)
    target = flops_of(ctx, cs.MODEL, dict(mb[0].run.model.overrides), s.objects)
    args = sized(ctx, BASIC, target, s.objects, "width_mult", 0.25, 3.0, **cs.base_args(ctx)).overrides
    return [spec(ctx, BASIC, args, s.objects, seed) for seed in ctx.seed_list]


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
    return {"pairs": pairs, "chance": chance(ctx, scale_of(ctx).objects), "seeds": ctx.seed_list}


def verdict(evidence: dict[str, Any]) -> Verdict:
    pairs = evidence["pairs"]
    accs = [a for p in pairs for k in ("mbconv", "basic") for a in p[k]["acc"]]
    if not all(math.isfinite(a) for a in accs):
        return Verdict(INCONCLUSIVE, "precondition failed: an accuracy is missing or not finite (diverged run)")
    miss = [p for p in pairs if abs(p["basic"]["flops"] / p["mbconv"]["flops"] - 1) > TOLERANCE]
    if miss:
        return Verdict(INCONCLUSIVE, f"precondition failed: a basic-block net misses its FLOPs budget by more than "
                                     f"{TOLERANCE:.0%} ({miss[0]['basic']['flops']} vs {miss[0]['mbconv']['flops']})")
    n = len(pairs[0]["mbconv"]["acc"])
    best = [max(p[k]["acc"][i] for p in pairs for k in ("mbconv", "basic")) for i in range(n)]
    if not all(b > evidence["chance"] + LEARNABLE for b in best):
        return Verdict(INCONCLUSIVE, f"precondition failed: no net is above chance + {LEARNABLE:.0%} on every seed")
    diff = [sum(p["mbconv"]["acc"][i] - p["basic"]["acc"][i] for p in pairs) / len(pairs) for i in range(n)]
    said = "; ".join(f"at {p['mbconv']['flops']:.3g} FLOPs MBConv {fmt_pct(summary(p['mbconv']['acc']))} vs basic "
                     f"{fmt_pct(summary(p['basic']['acc']))}" for p in pairs)
    said += f"; mean difference {fmt_pct(summary(diff))}"
    mark = agreement(diff, MARGIN)
    if mark == "above":
        return Verdict(SUPPORTED, f"MBConv is more accurate at equal FLOPs on every seed: {said}")
    if mark == "below":
        return Verdict(NOT_SUPPORTED, f"MBConv is not ahead by more than {MARGIN:.0%} on any seed: {said}")
    return Verdict(INCONCLUSIVE, f"seeds disagree: {said}")


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
            "each; " + scale_of(ctx).describe(ctx.seeds))
