"""The table (the judged shares of eigenvalues near 1 and the singular values of J - I, per family and state, over
seeds) and the figures (the share per block, one example's eigenvalues and the end-to-end singular values)."""

from __future__ import annotations

from typing import Any

import numpy as np

from skiplab.claims.core.stats import band, summary

from .rule import CLUSTER, FAMILIES, RATIO, SHARE

STATES = ("init", "trained")


def _cond(first: dict[str, Any]) -> float:
    sv = first.get("singular_values") or [np.nan]
    return float(np.log10(max(sv) / max(min(sv), 1e-30)))


def present(evidence: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    near, far = f"share |mu - 1| < ~{CLUSTER:g}", f"share |mu - 1| < ~{RATIO * CLUSTER:g}"
    cols = ["blocks", "when", near, far, "top-10% mean sigma(J - I)", "median sigma(J - I)", "log10 cond (seed 0)"]
    rows = []
    for _, label in FAMILIES:
        seeds = evidence["nets"][label]
        for state in STATES:
            rows.append([label, state, *(summary([s[state][k] for s in seeds])
                                         for k in ("near", "far", "sigma_tail", "sigma_median")),
                         summary([_cond(seeds[0][state])])])
    numbers = {"columns": cols, "rows": rows,
               "format": {c: "percent" if c.startswith("share") else "float" for c in cols[2:]}}
    first = {label: evidence["nets"][label][0] for _, label in FAMILIES}
    names = list(first[FAMILIES[0][1]]["trained"]["per_block"])
    per_block = []
    for g, (_, label) in enumerate(FAMILIES):
        for state in STATES:
            mean, std = band([[s[state]["per_block"][n] for n in names] for s in evidence["nets"][label]])
            per_block.append({"label": f"{label} {state}", "group": g, "x": list(range(1, len(names) + 1)),
                              "y": mean, "yerr": std, "style": "solid" if state == "trained" else "dashed"})
    planes = [{"title": label, "kind": "complex", "xlabel": "Re mu", "ylabel": "Im mu",
               "circle": {"center": [1, 0], "radius": CLUSTER},
               "series": [{"label": state, "group": g, "x": first[label][state].get("real", []),
                           "y": first[label][state].get("imag", [])} for g, state in enumerate(STATES)]}
              for _, label in FAMILIES]
    methods = sorted({m for f in first.values() for s in STATES for m in f[s].get("eig_methods", [])})
    sv = [{"label": f"{label} {state}", "group": g, "style": "solid" if state == "trained" else "dashed",
           "x": list(range(1, len(first[label][state].get("singular_values", [])) + 1)),
           "y": first[label][state].get("singular_values", [])}
          for g, (_, label) in enumerate(FAMILIES) for state in STATES]
    depth = evidence["depth"]
    figs = [
        {"id": "jacobian-share-per-block",
         "title": f"Share of block-Jacobian eigenvalues within ~{CLUSTER:g} of 1, per block, depth {depth}",
         "caption": f"The judged quantity per shape-preserving block (1 = the first), mean and std over seeds: the "
                    f"fraction of eigenvalues mu with |mu - 1| < r averaged over log r in [{CLUSTER:g}/sqrt 2, "
                    f"{CLUSTER:g} sqrt 2], by Jensen's formula and stochastic Lanczos quadrature over the probe "
                    f"examples. The rule pools the blocks and asks for at least {SHARE:.0%}.",
         "panels": [{"title": "per block", "kind": "line", "xlabel": "block", "ylabel": near,
                     "series": per_block, "hlines": [{"y": SHARE, "label": f"{SHARE:.0%}"}]}]},
        {"id": "jacobian-eigenvalues", "title": f"Block-Jacobian eigenvalues at one example, depth {depth} (seed 0)",
         "caption": f"An illustration, not the judged quantity: every shape-preserving block's eigenvalues at the "
                    f"first probe example ({', '.join(methods) or 'none'}); the circle has radius {CLUSTER:g} "
                    f"around 1. Many sit exactly at 1 (residual) or 0 (plain): ReLU masks make dF/dx "
                    f"rank-deficient.",
         "panels": planes},
        {"id": "jacobian-singular-values", "title": "End-to-end singular values of d features / d input (seed 0)",
         "caption": "Sorted, largest first, at the first probe example.",
         "panels": [{"title": "end to end", "kind": "line", "xlabel": "index", "ylabel": "singular value",
                     "yscale": "log", "series": sv}]},
    ]
    return numbers, figs
