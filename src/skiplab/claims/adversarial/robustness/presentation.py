"""The table and figures of robustness (rule.py), in the results.json schema (docs/results-schema.md)."""

from __future__ import annotations

import math
from typing import Any

from skiplab.claims.core.stats import band, summary

from .rule import NETS, robust_mean, robust_share

LABELS = {"resnet": "ResNet", "plain": "plain twin", "vgg": "VGG-style"}


def _col(entries: list[dict[str, Any]], fn: Any) -> dict[str, Any]:
    return summary([fn(e) for e in entries])


def present(evidence: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    rows = []
    for n in NETS:
        es = evidence["curves"][n]
        first = es[0]
        rows.append([LABELS[n], evidence["params"].get(n), _col(es, lambda e: e["clean"]),
                     _col(es, lambda e: robust_mean(e, ("linf",))), _col(es, lambda e: robust_mean(e, ("l2",))),
                     None, first.get("bound"), first.get("lower")])
    for c in evidence["budgets"]:
        es = evidence["budget_runs"][f"{c:g}"]
        # (the budget nets' L-inf curves are optional, scale field budget_linf: n/a where they were not run)
        rows.append([f"Lipschitz budget c = {c:g}", evidence["params"].get(f"c={c:g}"), _col(es, lambda e: e["clean"]),
                     _col(es, lambda e: robust_mean(e, ("linf",)) if "linf" in e else math.nan),
                     _col(es, lambda e: robust_mean(e, ("l2",))),
                     _col(es, robust_share), _col(es, lambda e: e["bound"]), _col(es, lambda e: e["lower"])])
    numbers = {"columns": ["net", "params", "clean accuracy", "mean robust acc. L-inf", "mean robust acc. L2",
                           "robust share L2", "Lipschitz upper bound", "empirical lower bound"], "rows": rows,
               "format": {"params": "int", "clean accuracy": "percent", "mean robust acc. L-inf": "percent",
                          "mean robust acc. L2": "percent", "robust share L2": "percent",
                          "Lipschitz upper bound": "float", "empirical lower bound": "float"}}
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
              "caption": "Per-example worst of FGSM, PGD (cross-entropy) and PGD (margin, cosine steps), carried over "
                         "smaller epsilons; checkpoints matched on held-out clean accuracy. Mean over seeds, band = "
                         "+-1 std.", "panels": panels}
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
    runs = evidence["budget_runs"]
    trade = []
    for label, fn, g in (("clean accuracy", lambda e: e["clean"], 0),
                         ("mean L2 robust accuracy", lambda e: robust_mean(e, ("l2",)), 1),
                         ("robust share (L2)", robust_share, 2)):
        st = [_col(runs[c], fn) for c in cs]
        trade.append({"label": label, "group": g, "x": evidence["budgets"], "y": [v["mean"] for v in st],
                      "yerr": [v["std"] for v in st]})
    eps = runs[cs[0]][0]["l2"]["eps"]
    cert = []
    for g, c in enumerate(cs):
        mean, std = band([e["certified"] for e in runs[c]])
        cert.append({"label": f"certified, c = {c}", "group": g, "style": "dashed", "x": eps, "y": mean})
        mean, std = band([e["l2"]["accuracy"] for e in runs[c]])
        cert.append({"label": f"empirical, c = {c}", "group": g, "x": eps, "y": mean, "yerr": std})
    bounds = [_col(runs[c], lambda e: e["bound"]) for c in cs]
    lowers = [_col(runs[c], lambda e: e["lower"]) for c in cs]
    tradeoff = {"id": "robustness-budget", "title": "Lipschitz budget c: clean vs robust accuracy and the certificate",
                "caption": "Norm-free ResNets with every branch's operator-norm product kept <= c. Left: accuracies "
                           "against c. Middle: L2 robust accuracy (solid) and certified accuracy (dashed, margin > "
                           "sqrt(2) L eps). Right: the whole-net upper bound L and the empirical lower bound.",
                "panels": [{"title": "trade-off", "kind": "line", "xlabel": "budget c", "ylabel": "accuracy",
                            "xscale": "log", "series": trade},
                           {"title": "L2: empirical vs certified", "kind": "line", "xlabel": "epsilon (L2)",
                            "ylabel": "accuracy", "series": cert},
                           {"title": "Lipschitz bounds", "kind": "line", "xlabel": "budget c", "ylabel": "Lip(logits)",
                            "xscale": "log", "yscale": "log",
                            "series": [{"label": "upper (product)", "group": 0, "x": evidence["budgets"],
                                        "y": [b["mean"] for b in bounds]},
                                       {"label": "lower (margin gradient)", "group": 1, "x": evidence["budgets"],
                                        "y": [b["mean"] for b in lowers]}]}]}
    return numbers, [curves, match, tradeoff]
