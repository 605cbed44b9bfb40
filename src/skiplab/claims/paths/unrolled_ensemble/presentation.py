"""unrolled-ensemble's numbers table and figures in the results.json schema (docs/results-schema.md)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from skiplab.claims.core.stats import summary

from .rule import full_curve, jump_fraction, k_curve, single_increase


def _downsampling_increase(study: dict[str, Any]) -> float:
    inc = [e - study["base"]["error"] for e, ch in zip(study["single"]["error"], study["shape_changing"])
           if ch and e is not None]
    return statistics.mean(inc) if inc else float("nan")


def _mean_band(rows: Sequence[Sequence[float | None]]) -> tuple[list[float | None], list[float | None]]:
    """Mean and std over seeds per index (None where a block is not lesionable)."""
    out_m: list[float | None] = []
    out_s: list[float | None] = []
    for col in zip(*rows):
        if any(v is None for v in col):
            out_m.append(None)
            out_s.append(None)
            continue
        sm = summary(col)
        out_m.append(sm["mean"])
        out_s.append(sm["std"])
    return out_m, out_s


def present(evidence: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    rows, block_panels, k_series = [], [], []
    for g, (label, net) in enumerate(evidence["nets"].items()):
        seeds = net["seeds"]
        base = [s["base"]["error"] for s in seeds]
        down = [_downsampling_increase(s) for s in seeds]
        swaps = [statistics.median([e - s["base"]["error"] for e in s["swap"]["error"]]) if s["swap"]["error"]
                 else float("nan") for s in seeds]
        last = [k_curve(s)[-1] if s["random"]["k"] else float("nan") for s in seeds]
        kmax = seeds[0]["random"]["k"][-1] if seeds[0]["random"]["k"] else 0
        rows.append([label, len(seeds[0]["names"]), summary(base), summary([single_increase(s) for s in seeds]),
                     summary(down), summary(swaps), kmax, summary(last),
                     summary([jump_fraction(full_curve(s)) for s in seeds])])
        mean, std = _mean_band([s["single"]["error"] for s in seeds])
        x = list(range(len(mean)))
        keep = [i for i in x if mean[i] is not None]
        ds = [i for i in keep if seeds[0]["shape_changing"][i]]
        sw_m, sw_s = _mean_band([s["swap"]["error"] for s in seeds])
        series = [{"label": "block deleted", "group": 0, "style": "solid", "x": keep, "y": [mean[i] for i in keep],
                   "yerr": [std[i] for i in keep]},
                  {"label": "downsampling block deleted", "group": 1, "style": "points", "x": ds,
                   "y": [mean[i] for i in ds]},
                  {"label": "blocks l, l+1 swapped", "group": 2, "style": "dashed",
                   "x": [p[0] for p in seeds[0]["swap"]["pairs"]], "y": sw_m, "yerr": sw_s}]
        block_panels.append({"title": label, "kind": "line", "xlabel": "block deleted (index)",
                             "ylabel": "held-out error", "series": series,
                             "hlines": [{"y": summary(base)["mean"], "label": "intact net"}]})
        km, ks = _mean_band([full_curve(s) for s in seeds])
        k_series.append({"label": label, "group": g, "style": "solid", "x": [0, *seeds[0]["random"]["k"]], "y": km,
                         "yerr": ks})
    ver = evidence["verification"]
    check = (f"unrolled sum ({', '.join(ver)}, float64): max relative deviation "
             f"{max(v['max_rel'] for v in ver.values()):.1e}")
    rows.append([check, None, None, None, None, None, None, None, None])
    numbers = {"columns": ["net", "blocks", "intact error", "median single-lesion increase",
                           "downsampling-lesion increase", "median swap increase", "k", "error, k deleted",
                           "largest step / range (J)"],
               "rows": rows, "format": {"blocks": "int", "intact error": "percent",
                                        "median single-lesion increase": "percent",
                                        "downsampling-lesion increase": "percent", "median swap increase": "percent",
                                        "k": "int", "error, k deleted": "percent",
                                        "largest step / range (J)": "float"}}
    figs = [{"id": "unrolled-single-lesions", "title": "Held-out error with one block deleted (Veit et al. Fig. 3)",
             "caption": "Mean over seeds, band = +-1 std; points: downsampling blocks (their shortcut changes the "
                        "shape; a plain net's cannot be deleted; never in the random deletions); dashed: neighbours "
                        "l and l+1 swapped.",
             "panels": block_panels},
            {"id": "unrolled-random-lesions", "title": "Held-out error vs number of blocks deleted at random",
             "caption": f"Mean over {evidence['draws']} distinct random sets of k non-downsampling blocks (all sets "
                        "where there are fewer), then over seeds (band = +-1 std over seeds); k = 0 is the intact "
                        "net.",
             "panels": [{"title": "k random deletions", "kind": "line", "xlabel": "blocks deleted (k)",
                         "ylabel": "held-out error", "series": k_series}]}]
    return numbers, figs
