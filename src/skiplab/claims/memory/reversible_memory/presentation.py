"""reversible-memory's table and figures in the results.json schema (docs/results-schema.md)."""

from __future__ import annotations

import statistics
from typing import Any

from skiplab.claims.core.stats import band, summary

from .rule import SLOWER


def _rows(e: dict[str, Any]) -> list[list[Any]]:
    b, std, rem, tr = e["verify_blocks"], e["standard"], e["remedy"], e["train"]
    rows: list[list[Any]] = [
        [f"standard (float32) RevNet, {b} blocks: reconstruction error", summary(std["recon"])],
        ["standard RevNet: gradient error vs ordinary backprop (relative)", summary(std["grad"])],
        [f"standard RevNet: minibatch gradient noise at batch {e['batch_size']} (relative)", summary(std["noise"])],
        ["standard RevNet: gradient error / minibatch noise (judged)", summary(std["ratio"])],
        ["float32 ordinary backprop's own error vs float64 (relative)", summary(std["fp32_floor"])],
        ["float64 stream (remedy, not judged): reconstruction error", summary(rem["recon"])],
        ["float64 stream (remedy, not judged): gradient error vs ordinary backprop", summary(rem["grad"])]]
    for arm in ("reversible", "backprop"):
        runs = tr[arm]
        rows.append([f"trained {tr['steps']} steps with {arm}: held-out loss",
                     summary([r["loss"] if r["loss"] is not None else float("nan") for r in runs])])
        rows.append([f"trained {tr['steps']} steps with {arm}: held-out accuracy",
                     summary([r["acc"] if r["acc"] is not None else float("nan") for r in runs])])
    return rows


def present(e: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    mb = 2 ** 20
    rows = _rows(e)
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
    return numbers, [fig, _training_figure(e)]


def _training_figure(e: dict[str, Any]) -> dict[str, Any]:
    tr = e["train"]
    series = []
    for g, arm in enumerate(("reversible", "backprop")):
        mean, std = band([r["curve"] for r in tr[arm]])
        series.append({"label": {"reversible": "reconstructing backward", "backprop": "ordinary backprop"}[arm],
                       "group": g, "x": list(range(1, len(mean) + 1)), "y": mean, "yerr": std})
    return {"id": "revnet-float32-training",
            "title": f"The standard (float32) RevNet of {e['verify_blocks']} blocks trained with each backward",
            "caption": "Training loss per SGD step (the step's own batch), mean +- std over seeds; both arms start "
                       "from the same init and see the same batches, so the gap is the reconstruction error's "
                       "effect alone.",
            "panels": [{"title": "training loss", "kind": "line", "xlabel": "step", "ylabel": "cross-entropy",
                        "series": series}]}
