"""reversible-memory's table and figures in the results.json schema (docs/results-schema.md)."""

from __future__ import annotations

import statistics
from typing import Any

from skiplab.claims.core.stats import summary

from .rule import SLOWER

def present(e: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    mb = 2 ** 20
    rows: list[list[Any]] = [[f"reconstruction error, {e['verify_blocks']} blocks", summary(e["recon"])],
                             [f"gradient error vs ordinary backprop, {e['verify_blocks']} blocks", summary(e["grad"])]]
    if "recon_fp32_stream" in e:  # reported, not judged: why the stream is float64
        rows.append([f"reconstruction error with a float32 stream (not judged), {e['verify_blocks']} blocks",
                     summary(e["recon_fp32_stream"])])
    for i, b in enumerate(e["blocks"]):
        for k in ("revnet", "resnet"):
            rows.append([f"{k} saved MB, {b} blocks", summary([e["saved"][k][i] / mb])])
    for b, r in zip(e["timed"], e["time_ratio"]):
        rows.append([f"step time RevNet / ResNet, {b} blocks", summary(r)])
    for i, b in enumerate(e["peak_blocks"]):
        for k in ("revnet", "resnet"):
            p = e["peak"][k][i]
            rows.append([f"{k} peak MB above start (fresh process), {b} blocks",
                         summary([p / mb if p else float("nan")])])
    numbers = {"columns": ["quantity", "measured"], "rows": rows, "format": {"measured": "float"}}
    label = {"revnet": "RevNet (reconstructing backward)", "resnet": "ResNet (ordinary backprop, same net)"}
    saved = [{"label": label[k], "group": g, "x": e["blocks"], "y": [v / mb for v in e["saved"][k]]}
             for g, k in enumerate(label)]
    peak = [{"label": label[k], "group": g, "x": e["peak_blocks"],
             "y": [None if v is None else v / mb for v in e["peak"][k]]} for g, k in enumerate(label)]
    ratio = [{"label": "median over seeds (each: median of interleaved repeats)", "group": 0, "x": e["timed"],
              "y": [statistics.median(r) for r in e["time_ratio"]],
              "yerr": [(max(r) - min(r)) / 2 for r in e["time_ratio"]]}]
    fig = {"id": "revnet-memory", "title": "RevNet memory is flat in depth; the ResNet's grows",
           "caption": "Left: bytes saved for backward (exact, saved_tensors_hooks, parameters excluded). Middle: peak "
                      "RSS of two SGD steps above the RSS before them, fresh process per point. Right: step time "
                      "RevNet / ResNet (the same net with ordinary backprop), band: half the min-max spread over "
                      "seeds.",
           "panels": [{"title": "saved for backward", "kind": "line", "xlabel": "coupling blocks",
                       "ylabel": "MB", "xscale": "log", "yscale": "log", "series": saved},
                      {"title": "peak memory", "kind": "line", "xlabel": "coupling blocks", "ylabel": "MB",
                       "xscale": "log", "yscale": "linear", "series": peak},
                      {"title": "step time ratio", "kind": "line", "xlabel": "coupling blocks",
                       "ylabel": "RevNet / ResNet", "xscale": "log", "series": ratio,
                       "hlines": [{"y": SLOWER, "label": f"goal {SLOWER}"}]}]}
    return numbers, [fig]
