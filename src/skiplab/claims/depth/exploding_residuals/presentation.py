"""exploding-residuals' table and figures in the results.json schema (docs/results-schema.md)."""

from __future__ import annotations

import math
from typing import Any

from skiplab.claims.core.stats import summary

from .rule import BOUND, CHANCE, EXPLODE, TRAINED, VARIANTS, or_inf


def present(evidence: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    deep, td = evidence["depths"][-1], evidence["train_depth"]

    def col(v: str, key: str, i: int) -> dict:
        return summary([or_inf(s[key][i]) for s in evidence["init"][v]])
    rows = [[v, col(v, "fwd", -1), col(v, "grad", -1),
             summary([or_inf(t["loss0"]) for t in evidence["train"][v]]),
             summary([or_inf(t["loss"]) for t in evidence["train"][v]]),
             sum(t["loss"] is None for t in evidence["train"][v])] for v in VARIANTS]
    numbers = {"columns": ["variant", f"log10 r_fwd (L={deep})", f"log10 r_grad (L={deep})",
                           f"loss at init (L={td})", f"loss after {evidence['steps']} steps", "diverged seeds"],
               "rows": rows, "format": {f"log10 r_fwd (L={deep})": "float", f"log10 r_grad (L={deep})": "float",
                                        f"loss at init (L={td})": "float",
                                        f"loss after {evidence['steps']} steps": "float", "diverged seeds": "int"}}
    panels = []
    for key, label in (("fwd", "log10 ||x_L|| / ||x_0||"), ("grad", "log10 ||dL/dx_0|| / ||dL/dx_L||")):
        series = []
        for g, v in enumerate(VARIANTS):
            st = [col(v, key, i) for i in range(len(evidence["depths"]))]
            series.append({"label": v, "group": g, "x": evidence["depths"], "y": [c["mean"] for c in st],
                           "yerr": [c["std"] for c in st], "style": "dashed" if v in ("plain", "batchnorm") else "solid"})
        panels.append({"title": "forward" if key == "fwd" else "backward", "kind": "line", "xlabel": "blocks L",
                       "ylabel": label, "xscale": "log", "series": series,
                       "hlines": [{"y": math.log10(EXPLODE), "label": f"{EXPLODE:g}x"},
                                  {"y": math.log10(BOUND), "label": f"{BOUND:g}x"}]})
    losses = [summary([or_inf(t["loss"]) for t in evidence["train"][v]]) for v in VARIANTS]
    figs = [
        {"id": "exploding-norms", "title": "Signal and gradient growth through the blocks at initialization",
         "caption": "Norm-free residual MLPs (He init), float64, mean +- std over seeds; a missing point overflowed "
                    "float64 (exploded). Dashed: the plain twin and the batch-normed ResNet, for reference.",
         "panels": panels},
        {"id": "exploding-training", "title": f"Training loss after {evidence['steps']} SGD steps at depth {td}",
         "caption": f"Same lr {evidence['lr']} for every variant; a missing bar diverged on some seed.",
         "panels": [{"title": "loss", "kind": "bar", "xlabel": "variant", "ylabel": "cross-entropy (train set)",
                     "series": [{"label": "after training", "x": list(VARIANTS), "y": [c["mean"] for c in losses],
                                 "yerr": [c["std"] for c in losses]}],
                     "hlines": [{"y": CHANCE, "label": "chance (ln 10)"},
                                {"y": TRAINED * CHANCE, "label": "trained"}]}]},
    ]
    if "cifar" in evidence:
        c = evidence["cifar"]
        st = [summary([or_inf(v) for v in c["loss"][k]]) for k in VARIANTS]
        figs.append({"id": "exploding-cifar", "title": f"{c['model']} on CIFAR: training loss after {c['epochs']} "
                     "epochs", "caption": "Reported beside the verdict; a missing bar diverged on some seed.",
                     "panels": [{"title": c["model"], "kind": "bar", "xlabel": "variant", "ylabel": "train loss",
                                 "series": [{"label": "last epoch", "x": list(VARIANTS), "y": [v["mean"] for v in st],
                                             "yerr": [v["std"] for v in st]}]}]})
    return numbers, figs
