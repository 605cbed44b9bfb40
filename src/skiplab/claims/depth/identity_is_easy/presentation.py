"""identity-is-easy, the table and figures: steps to target and the last MSE per task, arm and depth at the learning
rates the rule chose, the speedup bounds of each residual arm against the plain net (the far task and the zero-init
arm included, reported, not judged), the learning-rate grid, and the held-out curves at the deepest depth."""

from __future__ import annotations

import math
from typing import Any

from skiplab.claims.core.stats import effect, summary

from .rule import SPEEDUP, bounds, count, last_ratio, lr_key, run_key, selected


def _tasks(evidence: dict[str, Any]) -> list[tuple[str, list[int], list[str]]]:
    return [("near", evidence["depths"], evidence["arms"]), ("far", evidence["far_depths"], evidence["far_arms"])]


def _bound(evidence: dict[str, Any], kind: str, depth: int, arm: str, which: int) -> str:
    vals = bounds(evidence, kind, depth, arm)[which]
    if not all(math.isfinite(v) for v in vals):
        return "undefined (censored)"
    e = effect("", vals, math.log2(SPEEDUP))
    return f"{e.mean:+.2f} [{e.lo:+.2f}, {e.hi:+.2f}]" if math.isfinite(e.lo) else f"{e.mean:+.2f}"


def present(evidence: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    budget = evidence["max_steps"]
    rows, steps_panels, final_panels = [], [], []
    for kind, depths, arms in _tasks(evidence):
        steps_series, final_series = [], []
        for g, arm in enumerate(arms):
            sel = {d: selected(evidence, kind, arm, d) for d in depths}
            censored = {d: [min(count(r), budget) for _, r in sel[d]] for d in depths}
            finals = {d: summary([last_ratio(r) for _, r in sel[d]]) for d in depths}
            for d in depths:
                lo, hi = (("", "") if arm == "plain" else
                          (_bound(evidence, kind, d, arm, 0), _bound(evidence, kind, d, arm, 1)))
                rows.append([kind, arm, d, "/".join(lr_key(lr) for lr, _ in sel[d]), summary(censored[d]),
                             sum(r["n"] is None for _, r in sel[d]), finals[d], lo, hi])
            st = [summary(censored[d]) for d in depths]
            steps_series.append({"label": arm, "group": g, "x": depths, "y": [s["mean"] for s in st],
                                 "yerr": [s["std"] for s in st]})
            final_series.append({"label": arm, "group": g, "x": depths, "y": [finals[d]["mean"] for d in depths],
                                 "yerr": [finals[d]["std"] for d in depths]})
        title = "y = x + small(x)" if kind == "near" else "y = -x + small(x)"
        steps_panels.append({"title": title, "kind": "line", "xlabel": "blocks", "ylabel": "steps to target",
                             "yscale": "log", "series": steps_series,
                             "hlines": [{"y": budget, "label": "budget"}]})
        final_panels.append({"title": title, "kind": "line", "xlabel": "blocks", "ylabel": "last MSE / target",
                             "yscale": "log", "series": final_series, "hlines": [{"y": 1.0, "label": "target"}]})
    numbers = {"columns": ["task", "net", "depth", "lr per seed", "steps to target (never = budget)",
                           "seeds not reached", "last MSE / target", "log2 speedup vs plain, lower bound",
                           "log2 speedup vs plain, upper bound"],
               "rows": rows, "format": {"lr per seed": "text", "steps to target (never = budget)": "float",
                                        "seeds not reached": "int", "last MSE / target": "float",
                                        "log2 speedup vs plain, lower bound": "text",
                                        "log2 speedup vs plain, upper bound": "text"}}
    grid = []
    for d in evidence["depths"]:
        series = []
        for g, arm in enumerate(evidence["arms"]):
            st = [summary([min(count(r), budget) for r in evidence["runs"][run_key("near", arm, d, lr)]])
                  for lr in evidence["lrs"]]
            series.append({"label": arm, "group": g, "x": evidence["lrs"], "y": [s["mean"] for s in st],
                           "yerr": [s["std"] for s in st]})
        grid.append({"title": f"{d} blocks", "kind": "line", "xlabel": "Adam learning rate", "xscale": "log",
                     "ylabel": "steps to target", "yscale": "log", "series": series,
                     "hlines": [{"y": budget, "label": "budget"}]})
    deep = evidence["depths"][-1]
    curves = [{"label": f"{arm} seed {i}", "group": g, "style": "solid" if i == 0 else "dotted", "x": r["steps"],
               "y": [None if v is None else v / r["target"] for v in r["mse"]]}
              for g, arm in enumerate(evidence["arms"])
              for i, (_, r) in enumerate(selected(evidence, "near", arm, deep))]
    figs = [
        {"id": "identity-steps", "title": "Steps to reach MSE <= 10% of E||small(x)||^2, at the chosen learning rates",
         "caption": "Mean +- std over seeds; a run that never reached the target counts at the budget (the line), "
                    "so a mean at the line means no seed reached it.", "panels": steps_panels},
        {"id": "identity-final", "title": "Held-out MSE when the run stopped (target reached or budget spent)",
         "caption": "MSE divided by the target (10% of E||small(x)||^2); mean +- std over seeds.",
         "panels": final_panels},
        {"id": "identity-lr", "title": "Steps to target at every learning rate of the grid, y = x + small(x)",
         "caption": "Mean +- std over all seeds, never reached = the budget. The rule picks each seed's rate from "
                    "the other seeds' runs.", "panels": grid},
        {"id": "identity-curves", "title": f"Held-out MSE during training, depth {deep}, near-identity task",
         "caption": "MSE divided by the target, at each seed's chosen learning rate; training stops at the target. "
                    "The zero-init residual net starts at the identity: MSE = E||small||^2 = 10x the target.",
         "panels": [{"title": "near identity", "kind": "line", "xlabel": "step", "ylabel": "MSE / target",
                     "yscale": "log", "series": curves, "hlines": [{"y": 1.0, "label": "target"}]}]},
    ]
    return numbers, figs
