"""compound-scaling: scaling depth, width and resolution together (d = alpha^phi, w = beta^phi, r = gamma^phi with
alpha * beta^2 * gamma^2 ~ 2) beats scaling one dimension at equal FLOPs (Tan & Le 2019, Sec. 3.3 and Fig. 8).

The base is the EfficientNet-style net (models/families/mbconv.py) at BASE (16 px input resampled from 32 px data, so a
higher resolution sees real detail) on `multiscale-visible` (compound_task.py): shapes whose smallest radius is still
2 px at the base resolution, so the base loses detail but no class, and resolution does not win by construction.
Every scaled net is 2x the base's FLOPs within 5%: each grid point at phi = 1 exactly (compound_task.phi_one_args:
depth and resolution rounded from alpha and gamma, the width multiplier absorbing the rounding), the single-dimension
rules by their own multiplier (skiplab.sizing).
As Tan & Le, a small grid search fixes (alpha, beta, gamma): each grid point trains on SEARCH_SEEDS search seeds
(apart from the judged seeds, so the chosen point is not selected on the runs that judge it: a maximum over noisy
runs is biased up, and judging on them would carry that bias into the verdict), the best mean is chosen, and its
net is then trained and judged on the claim's seeds. Those runs depend on the search, so `measure` trains them.

base_args, rule_args, base_runs and rule_runs (on the shared `multiscale` data) are efficient-blocks' MBConv points,
kept as they were so its runs and rule do not change."""

from __future__ import annotations

import math
from typing import Any

from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Claim, Context, Verdict
from skiplab.claims.core.engine import Done, RunSpec, execute
from skiplab.claims.core.stats import chosen, effect, fmt_pct, summary
from skiplab.claims.scaling import compound_task as task
from skiplab.claims.scaling.flops_matched import accuracy, chance, flops_of, scale_of, sized, spec, test_examples

# Verdict thresholds (written before the quick-scale run; see the rule).
MARGIN = 0.01  # compound must beat a rule by more than 1 accuracy point
LEARNABLE = 0.10  # the base model must beat chance by 10 points on every seed, or nothing is measured
TOLERANCE = 0.05  # FLOPs matched within 5%
# The task's smallest shapes at the base resolution: the ideal observer's d' between the two most alike classes
# must be >= 4 (pairwise error Phi(-2) = 2.3%), else the base cannot see every class and resolution wins by
# construction (the old task, radius 2 px at 32 px, gives d' = 1.0 at 16 px; multiscale-visible 6.1).
SEPARATION = 4.0
PHI = 1.0  # every grid point at phi = 1: FLOPs 2^phi = 2x the base's (ScalingScale.budget_factor)
SEARCH_SEEDS = 3  # grid-search seeds: search_seed, search_seed + 1, ...
# The grid at phi = 1, every point with alpha * beta^2 * gamma^2 within 5% of 2: EfficientNet's own, one leaning
# on depth, one on width, one on resolution.
GRID = ((1.2, 1.1, 1.15), (1.4, 1.1, 1.1), (1.1, 1.2, 1.1), (1.1, 1.1, 1.25))
# The base: three stages of 2/3/3 MBConv blocks (not B0's 1/2/2: with one or two blocks a stage, a depth multiplier
# of 1.1-1.4 rounds to 0 or 50% more depth), widths 12/20/32.
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
    rule=(f"Base EfficientNet-style net on multi-scale shapes whose smallest radius is 2 px at the base "
          f"resolution; every scaled model sized to 2x the base's forward FLOPs. Grid search at phi = {PHI:g}: "
          f"each (alpha, beta, gamma) of {list(GRID)} becomes one net (blocks round(alpha x total) spread by largest "
          f"remainder, resolution round(gamma x base), width multiplier sized to the FLOPs), trained on "
          f"{SEARCH_SEEDS} search seeds apart from the judged seeds; the best mean accuracy over them is the compound "
          f"rule, trained on the judged seeds. Per judged seed, compound minus each single-dimension rule (depth, "
          f"width, resolution only) in final accuracy on the held-out test split; each difference's mean over "
          f"seeds is judged on its 95% t-interval (widened by the test split's binomial noise) against a margin of "
          f"{MARGIN:.0%} (1 point) raised to 2 binomial standard errors of the two accuracies on the test split. "
          f"Preconditions, else inconclusive: every scaled model and grid point within {TOLERANCE:.0%} of 2x the "
          f"base's FLOPs (achieved ratios reported), no model's resolution above the data's, the task's two most "
          f"alike classes at their smallest size separated by d' >= {SEPARATION:g} at the base resolution (ideal "
          f"observer, dimmest brightness, the stem's resampling), the base above chance + {LEARNABLE:.0%} on every "
          f"seed. Supported if every difference's interval lies above its margin; not supported if some "
          f"difference's interval lies below its margin; otherwise inconclusive."),
    fair_test=("A small grid of (alpha, beta, gamma) at phi = 1, chosen by mean accuracy over 3 search seeds apart "
               "from the judged seeds; every scaled model (compound and each single-dimension rule) sized to 2x the "
               "base's forward FLOPs within 5%; accuracy against FLOPs per rule on held-out test examples; the data "
               "rendered at the highest resolution any model uses, so resolution scaling sees real detail, with "
               "every class still visible at the base resolution; the base must learn the task."),
)


def base_args(ctx: Context) -> dict[str, Any]:
    return {**BASE, "resolution": scale_of(ctx).resolution}


def _budget_flops(ctx: Context) -> float:
    s = scale_of(ctx)
    return s.budget_factor * flops_of(ctx, MODEL, base_args(ctx), s.objects)


def rule_args(ctx: Context, rule: str) -> dict[str, Any]:
    knob, lo, hi = RULES[rule]
    return sized(ctx, MODEL, _budget_flops(ctx), scale_of(ctx).objects, knob, lo, hi, **base_args(ctx)).overrides


def _spec(ctx: Context, args: dict[str, Any], seed: int) -> RunSpec:
    return spec(ctx, MODEL, args, scale_of(ctx).objects, seed, ladder=True)


def base_runs(ctx: Context) -> list[RunSpec]:
    return [_spec(ctx, base_args(ctx), s) for s in ctx.seed_list]


def rule_runs(ctx: Context, rule: str) -> list[RunSpec]:
    return [_spec(ctx, rule_args(ctx, rule), s) for s in ctx.seed_list]


def _base(ctx: Context) -> dict[str, Any]:
    return {**BASE, "resolution": scale_of(ctx).resolution}


def task_budget(ctx: Context) -> float:
    """2^phi x the base's FLOPs on the task (budget_factor is 2 = 2^PHI)."""
    return scale_of(ctx).budget_factor * task.flops(ctx, MODEL, _base(ctx))


def compound_args(ctx: Context, abg: tuple[float, float, float]) -> dict[str, Any]:
    return task.phi_one_args(ctx, _base(ctx), task_budget(ctx), MODEL, abg)


def task_rule_args(ctx: Context, rule: str) -> dict[str, Any]:
    knob, lo, hi = RULES[rule]
    return task.sized_on_task(ctx, MODEL, task_budget(ctx), knob, lo, hi, _base(ctx))


def _task_spec(ctx: Context, args: dict[str, Any], seed: int) -> RunSpec:
    return spec(ctx, MODEL, args, task.data(ctx), seed, ladder=True)


def task_base_runs(ctx: Context) -> list[RunSpec]:
    return [_task_spec(ctx, _base(ctx), s) for s in ctx.seed_list]


def task_rule_runs(ctx: Context, rule: str) -> list[RunSpec]:
    return [_task_spec(ctx, task_rule_args(ctx, rule), s) for s in ctx.seed_list]


def grid(ctx: Context) -> tuple[tuple[float, float, float], ...]:
    """The grid; a smoke run (ctx.max_steps) checks the procedure on its first two points."""
    return GRID[:2] if ctx.max_steps is not None else GRID


def search_seeds(ctx: Context) -> list[int]:
    return [scale_of(ctx).search_seed + i for i in range(SEARCH_SEEDS)]


def search_runs(ctx: Context) -> list[list[RunSpec]]:
    """Per grid point, its runs on the search seeds."""
    return [[_task_spec(ctx, compound_args(ctx, abg), s) for s in search_seeds(ctx)] for abg in grid(ctx)]


def runs(ctx: Context) -> list[RunSpec]:
    return (task_base_runs(ctx) + [sp for point in search_runs(ctx) for sp in point]
            + [sp for r in RULES for sp in task_rule_runs(ctx, r)])


def _point(ctx: Context, done: Done, label: str, specs: list[RunSpec]) -> dict[str, Any]:
    args = dict(specs[0].run.model.overrides)
    model = done.model(specs[0], trained=False)
    f = task.flops(ctx, MODEL, args)
    return {"label": label, "args": args, "flops": f, "ratio": f / task.flops(ctx, MODEL, _base(ctx)),
            "realised": task.realised(_base(ctx), args), "resolution": model.config.effective_resolution,
            "blocks": len(model.block_names()), "acc": [accuracy(done, sp) for sp in specs]}


def measure(ctx: Context, done: Done) -> dict[str, Any]:
    base_flops = task.flops(ctx, MODEL, _base(ctx))
    search = []
    for abg, specs in zip(grid(ctx), search_runs(ctx)):
        args = dict(specs[0].run.model.overrides)
        f = task.flops(ctx, MODEL, args)
        acc = [accuracy(done, sp) for sp in specs]
        search.append({"abg": list(abg), "phi": PHI, "args": args, "flops": f, "ratio": f / base_flops,
                       "realised": task.realised(_base(ctx), args), "acc": acc,
                       "mean": sum(acc) / len(acc)})
    finite = [p for p in search if math.isfinite(p["mean"])]
    best = max(finite, key=lambda p: p["mean"]) if finite else search[0]
    picked = [_task_spec(ctx, compound_args(ctx, tuple(best["abg"])), seed) for seed in ctx.seed_list]
    # The chosen point depends on the search's results, so it cannot be declared in runs(): the engine trains it here.
    execute(picked, done, say=lambda m: ctx.say(f"  compound-scaling (chosen grid point): {m}"), workers=ctx.workers)
    points = [_point(ctx, done, "base", task_base_runs(ctx)), _point(ctx, done, "compound", picked)]
    points += [_point(ctx, done, f"{r} only", task_rule_runs(ctx, r)) for r in RULES]
    return {"budget": task_budget(ctx), "base_flops": base_flops, "search": search, "chosen": best["abg"],
            "search_seeds": search_seeds(ctx), "points": points, "data": task.data(ctx),
            "data_size": max(done.dataset(picked[0]).info.shape[1:]), "separation": task.task_separation(ctx),
            "examples": test_examples(done, picked[0]), "chance": chance(ctx, task.data(ctx)), "seeds": ctx.seed_list}


def verdict(evidence: dict[str, Any]) -> Verdict:
    pts = {p["label"]: p for p in evidence["points"]}
    comp, budget = pts["compound"], evidence["budget"]
    scaled = [p for p in evidence["points"] if p["label"] != "base"]
    if not all(math.isfinite(a) for p in evidence["points"] for a in chosen(p["acc"])):
        return Verdict(INCONCLUSIVE, "precondition failed: an accuracy is missing or not finite (diverged run)")
    nets = [(p["label"], p["flops"]) for p in scaled] + [(f"grid {tuple(p['abg'])}", p["flops"])
                                                         for p in evidence["search"]]
    ratios = ", ".join(f"{label} {f / evidence['base_flops']:.3f}x" for label, f in nets)
    miss = [label for label, f in nets if abs(f / budget - 1) > TOLERANCE]
    if miss:
        return Verdict(INCONCLUSIVE, f"precondition failed: {', '.join(miss)} not within {TOLERANCE:.0%} of the "
                                     f"FLOPs budget {budget:.3g} (achieved FLOPs / base: {ratios})")
    over = [p["label"] for p in evidence["points"] if p["resolution"] > evidence["data_size"]]
    if over:
        return Verdict(INCONCLUSIVE, f"precondition failed: {', '.join(over)} use a resolution above the data's "
                                     f"{evidence['data_size']} px (upsampling adds no information)")
    sep = evidence.get("separation")
    if sep is not None and not sep >= SEPARATION:
        return Verdict(INCONCLUSIVE, f"precondition failed: the task's smallest shapes are not distinguishable at "
                                     f"the base resolution (d' {sep:.2f} < {SEPARATION:g})")
    base = chosen(pts["base"]["acc"])
    if not all(a > evidence["chance"] + LEARNABLE for a in base):
        return Verdict(INCONCLUSIVE, f"precondition failed: the base model is not above chance + {LEARNABLE:.0%} "
                                     f"on every seed ({fmt_pct(summary(base))}): the task is not learned")
    effects = {p["label"]: effect(f"compound - {p['label']}", [c - a for c, a in zip(comp["acc"], p["acc"])], MARGIN,
                                  examples=evidence["examples"], rates=[comp["acc"], p["acc"]], held_out=True)
               for p in scaled if p is not comp}
    said = (f"compound {fmt_pct(summary(chosen(comp['acc'])))} (alpha, beta, gamma = {tuple(evidence['chosen'])}, "
            f"phi = {PHI:g}) at {comp['flops']:.3g} FLOPs; achieved FLOPs / base: {ratios}; "
            + "; ".join(e.text() for e in effects.values()))
    if all(e.call == "above" for e in effects.values()):
        return Verdict(SUPPORTED, f"compound scaling beats every single-dimension rule beyond the margin: {said}")
    losing = [k for k, e in effects.items() if e.call == "below"]
    if losing:
        return Verdict(NOT_SUPPORTED, f"compound scaling does not beat {', '.join(losing)} beyond the margin: "
                                      f"{said}")
    return Verdict(INCONCLUSIVE, f"an interval straddles its margin: {said}")


def _mults(p: dict[str, Any]) -> str:
    return "d x{:.3g}, w x{:.3g}, r x{:.3g}".format(*p["realised"]) if "realised" in p else "-"


def present(evidence: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    rows = [[p["label"], p["flops"], p["flops"] / evidence["base_flops"], p["blocks"], p["resolution"], _mults(p),
             summary(p["acc"])] for p in evidence["points"]]
    rows += [[f"search {tuple(p['abg'])}", p["flops"], p["flops"] / evidence["base_flops"], None, None,
              f"phi={p['phi']:g}: {_mults(p)}", summary(p["acc"])] for p in evidence["search"]]
    numbers = {"columns": ["model", "FLOPs", "FLOPs / base", "blocks", "input px", "realised multipliers",
                           "test accuracy"], "rows": rows,
               "format": {"FLOPs": "int", "FLOPs / base": "float", "blocks": "int", "input px": "int",
                          "realised multipliers": "text", "test accuracy": "percent"}}
    series = []
    for g, p in enumerate(evidence["points"]):
        st = summary(p["acc"])
        series.append({"label": p["label"], "x": [p["flops"]], "y": [st["mean"]], "yerr": [st["std"]], "group": g,
                       "style": "points"})
    series.append({"label": "grid search (mean over search seeds)", "x": [p["flops"] for p in evidence["search"]],
                   "y": [summary(p["acc"])["mean"] for p in evidence["search"]], "group": len(series),
                   "style": "points"})
    fig = {"id": "compound-scaling-accuracy", "title": "Accuracy vs FLOPs: compound vs single-dimension scaling",
           "caption": f"Final test accuracy (mean +- std over seeds) against forward FLOPs per example; every scaled "
                      f"model sized to {evidence['budget']:.3g} FLOPs (2x the base, phi = 1). Grid points: mean "
                      f"over {len(evidence.get('search_seeds', [0]))} search seeds.",
           "panels": [{"title": "multi-scale shapes, all visible at the base", "kind": "line",
                       "xlabel": "forward FLOPs per example", "ylabel": "test accuracy", "xscale": "log",
                       "series": series, "hlines": [{"y": evidence["chance"], "label": "chance"}]}]}
    return numbers, [fig]


def budget(ctx: Context) -> str:
    return (f"multi-scale shapes, smallest visible at the base resolution ({task.data(ctx)}); base EfficientNet-style "
            f"net (blocks {BASE['blocks']}, widths {BASE['widths']}), {len(grid(ctx))} grid points at phi = {PHI:g} "
            f"x {SEARCH_SEEDS} search seeds, then base, compound and 3 single-dimension rules per seed; "
            + scale_of(ctx).describe(ctx.seeds, scale_of(ctx).ladder))
