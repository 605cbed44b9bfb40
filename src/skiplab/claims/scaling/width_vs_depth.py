"""width-vs-depth: at a fixed FLOPs budget, multi-branch (Inception) blocks win on data with large scale variation,
deep residual stacks win on tasks needing many sequential stages (Szegedy et al. 2015; the seed text).

Two nets at the same forward FLOPs (within 5%), the same input resolution and recipe, on two generated tasks:
- deep: a stack of 15 basic blocks (31 conv layers; models/families/mbconv.py with block "basic", blocks 3/6/6, widths
  8/12/20, no head conv; the two stride-2 blocks have no skip, the other 13 are residual), narrow and deep;
- wide: the Inception-ResNet-style net (models/families/inception.py, one 4-branch block per stage: 1x1, 3x3, 5x5 as two
  3x3, pool), sized by width to the deep net's FLOPs: shallow and wide, with parallel receptive fields.
Tasks: multi-scale shapes (data/multiscale.py, scales varying 4x) and Pathfinder-like curve tracing
(data/pathfinder.py). The verdict is the architecture x task interaction, pre-registered, not either task alone.
"""

from __future__ import annotations

import math
from typing import Any

from skiplab.claims.scaling.flops_matched import accuracy, chance, flops_of, scale_of, sized, spec, test_examples
from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Claim, Context, Verdict
from skiplab.claims.core.engine import Done, RunSpec
from skiplab.claims.core.stats import chosen, effect, fmt_pct, summary

# Verdict thresholds (written before the quick-scale run; see the rule).
MARGIN = 0.02  # the interaction must exceed 2 accuracy points (a difference of differences: noisier than one)
LEARNABLE = 0.15  # on each task the better net must beat chance by 15 points on every seed
TOLERANCE = 0.05  # FLOPs matched within 5%
DEEP = ("effnet-basic", {"blocks": (3, 6, 6), "widths": (8, 12, 20), "head_mult": 0.0})
WIDE = "inception"
ARCHS = ("inception", "deep-resnet")

CLAIM = Claim(
    id="width-vs-depth",
    kind="empirical",
    statement="At a fixed FLOPs budget multi-branch (Inception) blocks win on data with large scale variation; deep "
              "residual stacks win on tasks needing many sequential stages.",
    source="Szegedy et al. 2015; seed text",
    rule=(f"A deep residual stack (15 basic blocks) and an Inception-ResNet-style net (3 blocks) sized to its forward "
          f"FLOPs within {TOLERANCE:.0%}, same input resolution and recipe, on multi-scale shapes (objects) and "
          f"Pathfinder-like curves (stages); final accuracy on each task's held-out test split. Per seed: D_task = "
          f"accuracy(Inception) - accuracy(deep) on each task, interaction I = D_objects - D_stages. Preconditions, "
          f"else inconclusive: FLOPs matched, and on each task the better net above chance + {LEARNABLE:.0%} on "
          f"every seed (the task is learnable). The mean of I over seeds is judged on its 95% t-interval (widened "
          f"by the test splits' binomial noise) against a margin of {MARGIN:.0%} (2 points) raised to 2 binomial "
          f"standard errors of the four accuracies it combines (on the smaller test split): supported if the "
          f"interval lies above the margin, not supported if it lies below it, otherwise inconclusive. The "
          f"per-task differences are reported, not judged alone."),
    fair_test=("The two architectures at forward FLOPs matched within 5%, the same input resolution and recipe, on "
               "both tasks; the verdict is a pre-registered architecture x task interaction, and each task is "
               "shown learnable by one of the nets."),
)


def tasks(ctx: Context) -> dict[str, str]:
    s = scale_of(ctx)
    return {"objects": s.objects, "stages": s.stages}


def _deep_args(ctx: Context) -> dict[str, Any]:
    return {**DEEP[1], "resolution": scale_of(ctx).resolution}


def wide_args(ctx: Context, data: str) -> dict[str, Any]:
    budget = flops_of(ctx, DEEP[0], _deep_args(ctx), data)
    return sized(ctx, WIDE, budget, data, "width_mult", 0.5, 4.0, resolution=scale_of(ctx).resolution).overrides


def arch_runs(ctx: Context, arch: str, data: str) -> list[RunSpec]:
    model, args = (WIDE, wide_args(ctx, data)) if arch == "inception" else (DEEP[0], _deep_args(ctx))
    return [spec(ctx, model, args, data, s) for s in ctx.seed_list]


def runs(ctx: Context) -> list[RunSpec]:
    return [sp for data in tasks(ctx).values() for arch in ARCHS for sp in arch_runs(ctx, arch, data)]


def measure(ctx: Context, done: Done) -> dict[str, Any]:
    cells: dict[str, Any] = {}
    for task, data in tasks(ctx).items():
        for arch in ARCHS:
            specs = arch_runs(ctx, arch, data)
            args = dict(specs[0].run.model.overrides)
            cells[f"{arch}/{task}"] = {"model": specs[0].run.model.name, "args": args,
                                       "flops": flops_of(ctx, specs[0].run.model.name, args, data),
                                       "blocks": len(done.model(specs[0], trained=False).block_names()),
                                       "acc": [accuracy(done, sp) for sp in specs]}
    examples = {t: test_examples(done, arch_runs(ctx, ARCHS[0], d)[0]) for t, d in tasks(ctx).items()}
    return {"tasks": tasks(ctx), "cells": cells, "chance": {t: chance(ctx, d) for t, d in tasks(ctx).items()},
            "examples": examples, "seeds": ctx.seed_list}


def verdict(evidence: dict[str, Any]) -> Verdict:
    c = evidence["cells"]
    acc = {k: chosen(cell["acc"]) for k, cell in c.items()}
    if not all(math.isfinite(a) for vals in acc.values() for a in vals):
        return Verdict(INCONCLUSIVE, "precondition failed: an accuracy is missing or not finite (diverged run)")
    for task in ("objects", "stages"):
        f_wide, f_deep = c[f"inception/{task}"]["flops"], c[f"deep-resnet/{task}"]["flops"]
        if abs(f_wide / f_deep - 1) > TOLERANCE:
            return Verdict(INCONCLUSIVE, f"precondition failed: FLOPs not matched within {TOLERANCE:.0%} on {task} "
                                         f"({f_wide} vs {f_deep})")
        best = [max(a, b) for a, b in zip(acc[f"inception/{task}"], acc[f"deep-resnet/{task}"])]
        if not all(b > evidence["chance"][task] + LEARNABLE for b in best):
            return Verdict(INCONCLUSIVE, f"precondition failed: the {task} task is not learned (best net "
                                         f"{fmt_pct(summary(best))}, chance {evidence['chance'][task]:.0%})")
    d = {t: [w - r for w, r in zip(acc[f"inception/{t}"], acc[f"deep-resnet/{t}"])] for t in ("objects", "stages")}
    arms = [c[f"{arch}/{t}"]["acc"] for t in ("objects", "stages") for arch in ARCHS]
    # I combines four accuracies on two independent test splits: the binomial noise of each on the smaller split
    # bounds the noise of I from above
    inter = effect("interaction I", [a - b - (x - y) for a, b, x, y in zip(*arms)], MARGIN,
                   examples=min(evidence["examples"].values()), rates=arms, held_out=True)
    said = (f"{inter.text()}; Inception minus deep residual: {fmt_pct(summary(d['objects']))} on multi-scale "
            f"objects, {fmt_pct(summary(d['stages']))} on sequential stages")
    if inter.call == "above":
        return Verdict(SUPPORTED, f"the architecture x task interaction exceeds the margin: {said}")
    if inter.call == "below":
        return Verdict(NOT_SUPPORTED, f"the interaction is below the margin: {said}")
    return Verdict(INCONCLUSIVE, f"the interval straddles the margin: {said}")


def present(evidence: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    c = evidence["cells"]
    rows = [[arch, task, cell["blocks"], cell["flops"], summary(cell["acc"])]
            for task in ("objects", "stages") for arch in ARCHS for cell in [c[f"{arch}/{task}"]]]
    numbers = {"columns": ["net", "task", "blocks", "FLOPs", "test accuracy"], "rows": rows,
               "format": {"blocks": "int", "FLOPs": "int", "test accuracy": "percent"}}
    bars = []
    for g, arch in enumerate(ARCHS):
        st = [summary(c[f"{arch}/{t}"]["acc"]) for t in ("objects", "stages")]
        bars.append({"label": arch, "group": g, "x": ["multi-scale objects", "sequential stages"],
                     "y": [s["mean"] for s in st], "yerr": [s["std"] for s in st]})
    inter = [{"label": arch, "group": g, "x": [0, 1],
              "y": [summary(c[f"{arch}/{t}"]["acc"])["mean"] for t in ("objects", "stages")]}
             for g, arch in enumerate(ARCHS)]
    fig = {"id": "width-vs-depth-interaction", "title": "FLOPs-matched Inception vs deep residual stack on two tasks",
           "caption": "Final test accuracy, mean +- std over seeds. Right: the interaction plot (non-parallel lines "
                      "= the architecture's advantage depends on the task); x 0 = objects, 1 = stages.",
           "panels": [{"title": "accuracy by task", "kind": "bar", "xlabel": "task", "ylabel": "test accuracy",
                       "series": bars},
                      {"title": "interaction", "kind": "line", "xlabel": "task (0 objects, 1 stages)",
                       "ylabel": "test accuracy", "series": inter}]}
    return numbers, [fig]


def budget(ctx: Context) -> str:
    return ("multi-scale shapes and Pathfinder-like curves, 2 FLOPs-matched nets x 2 tasks; "
            + scale_of(ctx).describe(ctx.seeds))
