"""The table and figures of robustness (rule.py), in the results.json schema (docs/results-schema.md)."""

from __future__ import annotations

import math
from typing import Any

from skiplab.claims.core.stats import band, summary

from .rule import NETS, robust_mean

LABELS = {"resnet": "ResNet", "plain": "plain twin", "vgg": "VGG-style"}


def _col(entries: list[dict[str, Any]], fn: Any) -> dict[str, Any]:
    return summary([fn(e) for e in entries])


def certified_mean(entry: dict[str, Any]) -> float:
    """Certified L2 accuracy (margin > sqrt(2) L eps) averaged over the nonzero L2 epsilons, beside robust_mean."""
    vals = [a for e, a in zip(entry["l2"]["eps"], entry.get("certified") or []) if e > 0]
    return sum(vals) / len(vals) if vals else math.nan


def cheap_mean(entry: dict[str, Any]) -> float:
    """robust_mean (L2) of the cheap attacks alone (the lowest of their own rates per epsilon): the strong curve
    lies at or below it."""
    c = entry["l2"]
    weak = c.get("weak") or [math.nan] * len(c["eps"])
    vals = [a for e, a in zip(c["eps"], weak) if e > 0]
    return sum(vals) / len(vals) if vals else math.nan


def present(evidence: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    rows = []
    for n in NETS:
        es = evidence["curves"][n]
        first = es[0]  # bounds and certificates of the unconstrained nets: first seed only
        rows.append([LABELS[n], evidence["params"].get(n), _col(es, lambda e: e["clean"]), None,
                     _col(es, lambda e: robust_mean(e, ("linf",))), _col(es, lambda e: robust_mean(e, ("l2",))),
                     _col(es, cheap_mean), certified_mean(first) if "certified" in first else None,
                     first.get("bound"), first.get("lower")])
    for c in evidence["budgets"]:
        es = evidence["budget_runs"][f"{c:g}"]
        equal = [{"clean": m["equal"][f"{c:g}"]["acc"]} for m in evidence["budget_match"]]
        # (the budget nets' L-inf curves are optional, scale field budget_linf: n/a where they were not run)
        rows.append([f"Lipschitz budget c = {c:g}", evidence["params"].get(f"c={c:g}"), _col(es, lambda e: e["clean"]),
                     _col(equal, lambda e: e["clean"]),
                     _col(es, lambda e: robust_mean(e, ("linf",)) if "linf" in e else math.nan),
                     _col(es, lambda e: robust_mean(e, ("l2",))), _col(es, cheap_mean), _col(es, certified_mean),
                     _col(es, lambda e: e["bound"]), _col(es, lambda e: e["lower"])])
    cols = ["net", "params", "clean accuracy (matched)", "clean acc. after equal training", "mean robust acc. L-inf",
            "mean robust acc. L2", "L2, cheap attacks alone", "certified acc. L2", "Lipschitz upper bound",
            "empirical lower bound"]
    numbers = {"columns": cols, "rows": rows,
               "format": {**{c: "percent" for c in cols[2:8]}, "params": "int", "Lipschitz upper bound": "float",
                          "empirical lower bound": "float"}}
    panels = []
    for norm, name in (("linf", "L-inf"), ("l2", "L2")):
        series = []
        for g, n in enumerate(NETS):
            es = evidence["curves"][n]
            mean, std = band([e[norm]["accuracy"] for e in es])
            series.append({"label": LABELS[n], "group": g, "x": es[0][norm]["eps"], "y": mean, "yerr": std})
        panels.append({"title": f"{name} attacks", "kind": "line", "xlabel": f"epsilon ({name}, pixels in [0, 1])",
                       "ylabel": "robust accuracy", "series": series})
    curves = {"id": "robustness-curves", "title": "Robust accuracy against epsilon at matched clean accuracy",
              "caption": "Strong evaluation: per example the worst of FGSM, PGD (cross-entropy) and PGD (margin, "
                         "cosine steps), then PGD from x and random starts, APGD-CE and APGD-T on the survivors, "
                         "carried over smaller epsilons; checkpoints matched on held-out clean accuracy. Mean over "
                         "seeds, band = +-1 std.", "panels": panels}
    match_series = []
    for g, n in enumerate(NETS):
        m = evidence["match"][0]["chosen"][n]
        match_series.append({"label": LABELS[n], "group": g, "x": m["steps"], "y": m["curve"]})
        match_series.append({"label": f"{LABELS[n]} (chosen)", "group": g, "style": "points", "x": [m["step"]],
                             "y": [m["acc"]]})
    match = {"id": "robustness-matching", "title": "Clean accuracy along training and the matched checkpoints",
             "caption": "Held-out clean accuracy of every snapshot (first seed); points: the checkpoints compared. "
                        "The dashed line is the target, the lowest of the nets' best accuracies.",
             "panels": [{"title": "seed 0", "kind": "line", "xlabel": "training step", "ylabel": "clean accuracy",
                         "series": match_series,
                         "hlines": [{"y": evidence["match"][0]["target"], "label": "target"}]}]}
    cs = [f"{c:g}" for c in evidence["budgets"]]
    runs, bm = evidence["budget_runs"], evidence["budget_match"][0]
    bmatch = []
    for g, c in enumerate(cs):
        m, e = bm["chosen"][c], bm["equal"][c]
        bmatch += [{"label": f"c = {c}", "group": g, "x": m["steps"], "y": m["curve"]},
                   {"label": f"c = {c} (matched)", "group": g, "style": "points", "x": [m["step"]], "y": [m["acc"]]},
                   {"label": f"c = {c} (equal training)", "group": g, "style": "points", "x": [e["step"]],
                    "y": [e["acc"]]}]
    eps = runs[cs[0]][0]["l2"]["eps"]
    cert = []
    for g, c in enumerate(cs):
        mean, std = band([e["certified"] for e in runs[c]])
        cert.append({"label": f"certified, c = {c}", "group": g, "style": "dashed", "x": eps, "y": mean})
        mean, std = band([e["l2"]["accuracy"] for e in runs[c]])
        cert.append({"label": f"empirical, c = {c}", "group": g, "x": eps, "y": mean, "yerr": std})
    bounds = [_col(runs[c], lambda e: e["bound"]) for c in cs]
    lowers = [_col(runs[c], lambda e: e["lower"]) for c in cs]
    tradeoff = {"id": "robustness-budget", "title": "Lipschitz budget c: matched snapshots, robust vs certified",
                "caption": "Norm-free ResNets with every branch's operator-norm product kept <= c, one recipe. Left: "
                           "held-out clean accuracy along training (first seed), the snapshots matched on the lower "
                           "best accuracy (dashed line; robustness is compared there) and the final ones (the cost "
                           "is read there). Middle: L2 robust accuracy of the matched snapshots (solid) and their "
                           "certified accuracy (dashed, margin > sqrt(2) L eps). Right: the whole-net upper bound L "
                           "and the empirical lower bound.",
                "panels": [{"title": "matched snapshots", "kind": "line", "xlabel": "training step",
                            "ylabel": "clean accuracy", "series": bmatch,
                            "hlines": [{"y": bm["target"], "label": "target"}]},
                           {"title": "L2: empirical vs certified", "kind": "line", "xlabel": "epsilon (L2)",
                            "ylabel": "accuracy", "series": cert},
                           {"title": "Lipschitz bounds", "kind": "line", "xlabel": "budget c", "ylabel": "Lip(logits)",
                            "xscale": "log", "yscale": "log",
                            "series": [{"label": "upper (product)", "group": 0, "x": evidence["budgets"],
                                        "y": [b["mean"] for b in bounds]},
                                       {"label": "lower (margin gradient)", "group": 1, "x": evidence["budgets"],
                                        "y": [b["mean"] for b in lowers]}]}]}
    return numbers, [curves, match, tradeoff]
