"""The table and figures of highway-gates: train error against depth, and the transform gate T by block for each
gate-bias init, at init and trained."""

from __future__ import annotations

from typing import Any

from skiplab.claims.core.stats import summary

from .rule import DEFAULT_BIAS, TARGET, err_key, gate_key, logit


def gate_summary(per_seed: list[dict[str, Any]], when: str) -> dict[str, Any]:
    """Over seeds: per gated block the mean T and its std over seeds; overall mean, mean within-block spread over
    examples (std of each example's mean T) and the share of blocks leaning to carry (T < 0.5)."""
    stats = [s[when] for s in per_seed if s[when]]
    if not stats:
        return {"index": [], "mean": [], "seed_std": [], "overall": None, "example_std": None, "carry_share": None}
    per_block = [summary([s[b]["mean"] for s in stats]) for b in range(len(stats[0]))]
    mean = [sum(s[b]["mean"] for s in stats) / len(stats) for b in range(len(stats[0]))]
    ex = [s[b].get("example_std") for s in stats for b in range(len(s))]
    return {"index": [b["index"] for b in stats[0]], "mean": mean, "seed_std": [p["std"] for p in per_block],
            "overall": sum(mean) / len(mean),
            "example_std": sum(ex) / len(ex) if all(v is not None for v in ex) else None,
            "carry_share": sum(m < 0.5 for m in mean) / len(mean)}


def _moved(per_seed: list[dict[str, Any]]) -> float | None:
    """|z trained - z init| per block, averaged over blocks and seeds."""
    diffs = [abs(logit(t["mean"]) - logit(i["mean"])) for s in per_seed for i, t in zip(s["init"], s["trained"])]
    return sum(diffs) / len(diffs) if diffs else None


def present(evidence: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    depths, e = evidence["depths"], evidence["errors"]
    hw = sorted(((int(d), float(b)) for d, b in evidence["highway"]), key=lambda p: (p[1] != DEFAULT_BIAS, -p[1], p[0]))
    rows: list[list[Any]] = []
    for fam in ("plain", "resnet"):
        rows += [[fam, d, None, summary(e[err_key(fam, d)])] + [None] * 6 for d in depths]
    for d, b in hw:
        g = evidence["gates"][gate_key(d, b)]
        gi, gt = gate_summary(g, "init"), gate_summary(g, "trained")
        rows.append(["highway", d, b, summary(e[err_key("highway", d, b)]), gi["overall"], gt["overall"], _moved(g),
                     gi["example_std"], gt["example_std"], gt["carry_share"]])
    fmt = {"gate bias": "float", "train error": "percent", "mean T init": "float", "mean T trained": "float",
           "|z trained - z init|": "float", "T spread over examples, init": "float",
           "T spread over examples, trained": "float", "blocks with T < 0.5 (trained)": "percent"}
    numbers = {"columns": ["net", "depth", *fmt], "rows": rows, "format": fmt}

    default = sorted(d for d, b in hw if b == DEFAULT_BIAS)
    series = []
    for g, (label, xs) in enumerate((("plain", depths), ("resnet", depths), (f"highway (b {DEFAULT_BIAS:g})", default))):
        fam = label.split()[0]
        st = [summary(e[err_key(fam, d, DEFAULT_BIAS)]) for d in xs]
        series.append({"label": label, "group": g, "x": list(xs), "y": [s["mean"] for s in st],
                       "yerr": [s["std"] for s in st]})
    trainability = {"id": "highway-gates-trainability", "title": "Train error against depth: highway, residual, plain",
                    "caption": "Full-pass train error after the ladder's budget, mean over seeds, band = +-1 std.",
                    "panels": [{"title": "same budget", "kind": "line", "xlabel": "depth (weighted layers)",
                                "ylabel": "train error", "yscale": "symlog", "series": series,
                                "hlines": [{"y": TARGET, "label": f"{TARGET:.0%}"}]}]}

    panels, colour = [], {b: g for g, b in enumerate(sorted({b for _, b in hw}, reverse=True))}  # one per init
    for d in sorted({d for d, _ in hw}):
        gseries = []
        for b in sorted((b for dd, b in hw if dd == d), reverse=True):
            g = colour[b]
            for when, style in (("trained", "solid"), ("init", "dashed")):
                gs = gate_summary(evidence["gates"][gate_key(d, b)], when)
                if gs["mean"]:
                    gseries.append({"label": f"b {b:g} {when}", "style": style, "group": g, "x": gs["index"],
                                    "y": gs["mean"], "yerr": gs["seed_std"]})
        panels.append({"title": f"highway-{d}", "kind": "line", "xlabel": "block index", "ylabel": "mean T(x)",
                       "series": gseries, "hlines": [{"y": 0.5, "label": "T = 0.5"}]})
    gates = {"id": "highway-gates-gates",
             "title": "Transform gate T(x) by block for each gate-bias init b (0: carry x, 1: transform)",
             "caption": "Mean over examples, channels and positions, then over seeds; dashed: at init, solid: "
                        "trained; band = +-1 std over seeds. Missing indices are the plain stride-2 transitions, "
                        f"which have no gate. The gate rule is judged at depth {evidence['gate_depth']}.",
             "panels": panels}
    return numbers, [trainability, gates]
