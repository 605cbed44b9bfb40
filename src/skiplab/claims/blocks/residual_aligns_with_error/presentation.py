"""residual-aligns-with-error: the table (A, its null, the lead, per batch-norm mode) and the figures, including the
one that shows, from measured numbers, why the two modes disagree."""

from __future__ import annotations

from typing import Any

from skiplab.claims.core.stats import band, summary

from .rule import FIXED, MODES

STATES = ("init", "trained")


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def _summ(runs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """Mean +- std over seeds of runs' scalar `key`, or of the mean over blocks where `key` is per block."""
    return summary([_mean(r[key]) if isinstance(r[key], list) else r[key] for r in runs])


def _row(net: str, state: str, mode: str, runs: list[dict[str, Any]]) -> list[Any]:
    extra = [_summ(runs, k) if runs and k in runs[0] else summary([]) for k in ("growth", "with_stream")]
    return [net, state, mode, _summ(runs, "mean_cos"), summary([r["null"]["mean"] for r in runs]),
            summary([r["null"]["q99"] for r in runs]), _summ(runs, "lead"), *extra]


def _series(label: str, runs: list[dict[str, Any]], key: str, group: int, style: str) -> dict[str, Any]:
    mean, std = band([r[key] for r in runs])
    return {"label": label, "group": group, "style": style, "x": list(range(1, len(mean) + 1)), "y": mean,
            "yerr": std}


def _panel(title: str, ylabel: str, series: list[dict[str, Any]]) -> dict[str, Any]:
    return {"title": title, "kind": "line", "xlabel": "block", "ylabel": ylabel, "series": series,
            "hlines": [{"y": 0.0, "label": "orthogonal"}]}


def _why(evidence: dict[str, Any]) -> str:
    """The modes' difference in measured numbers: which of the two things that differ between them moves A."""
    a = {m: _mean([s["trained"][m]["mean_cos"] for s in evidence["residual"]]) for m in MODES}
    grow, joins = ({m: _mean([_mean(s["trained"][m][k]) for s in evidence["residual"]]) for m in MODES}
                   for k in ("growth", "with_stream"))
    by_backward = abs(a[FIXED] - a["eval"]) < abs(a[FIXED] - a["train"])
    cause = ("so the difference comes from the backward pass through the batch statistics, not from which statistics "
             "the forward uses" if by_backward else
             "so the difference comes mostly from which statistics the forward uses, not from the backward pass "
             "through them")
    return (f"Trained nets, mean over seeds of A = mean over blocks of cos(F, -g): {a['train']:+.3f} in train mode, "
            f"{a['eval']:+.3f} in eval mode, {a[FIXED]:+.3f} in train mode with the batch statistics held constant "
            f"in the backward pass (the same forward as train mode), {cause}. In train mode every batch norm's "
            f"backward removes from the gradient, per channel over the batch, its mean and its component along the "
            f"normalized input (shifting or scaling a channel over the batch is undone by the normalization, so it "
            f"cannot lower the loss), and examples are coupled through the statistics. The mean over blocks of "
            f"cos(x_{{l+1}}, -g), how much the loss falls when the stream itself grows, is {grow['train']:+.3f} in "
            f"train mode, {grow['eval']:+.3f} in eval mode and {grow[FIXED]:+.3f} with fixed statistics; that of "
            f"cos(F_l, x_{{l+1}} - F_l), how much the block adds along the stream it joins, is {joins['train']:+.3f} "
            f"in train mode and {joins['eval']:+.3f} in eval mode.")


def present(evidence: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    res, toy, depth = evidence["residual"], evidence["toy"], evidence["depth"]
    net = f"preresnet{depth}"
    rows = [_row(net, state, mode, [s[state][mode] for s in res]) for state in STATES for mode in MODES]
    rows += [_row("identity toy", state, "no batch norm; cos(F, y - x_l)", [t[state] for t in toy]) for state in STATES]
    columns = ["net", "when", "batch norm", "A = mean cos(F, -g)", "null mean", "null 99th pct", "lead = A - 99th",
               "cos(x_out, -g)", "cos(F, x_out - F)"]
    numbers = {"columns": columns, "rows": rows, "format": {c: "float" for c in columns[3:]}}

    panels = []
    for mode in MODES:
        panels.append(_panel(f"{net}, {mode} mode", "cos(F_l, -dL/dx_{l+1})", [
            _series("trained", [s["trained"][mode] for s in res], "cos", 0, "solid"),
            _series("trained null 99th pct", [s["trained"][mode] for s in res], "null_q99", 0, "dashed"),
            _series("init", [s["init"][mode] for s in res], "cos", 1, "solid")]))
    panels.append(_panel("identity toy", "cos(F_l, y - x_l)", [
        _series("trained", [t["trained"] for t in toy], "cos", 0, "solid"),
        _series("trained null 99th pct", [t["trained"] for t in toy], "null_q99", 0, "dashed"),
        _series("init", [t["init"] for t in toy], "cos", 1, "solid")]))
    figs = [{"id": "alignment-per-block", "title": "Does each block's increment point along the error?",
             "caption": f"Held-out examples; mean over seeds, band = +-1 std over seeds. Dashed: the 99th percentile "
                        f"of the same cosine with F and the error re-paired across examples by "
                        f"{evidence['derangements']} random derangements. Trained toy's MSE / E||small||^2 = "
                        f"{_mean([t['mse_over_small'] for t in toy]):.3g}.",
             "panels": panels}]

    figs.append({"id": "alignment-by-mode", "title": "Why the batch-norm modes disagree",
                 "caption": _why(evidence),
                 "panels": [_panel(f"{net} trained: {title}", ylabel, [
                     _series(f"{mode} mode", [s["trained"][mode] for s in res], key, g, "dashed" if mode == FIXED
                             else "solid") for g, mode in enumerate(MODES)])
                     for title, ylabel, key in (("the alignment", "cos(F_l, -dL/dx_{l+1})", "cos"),
                                                ("does growing the stream lower the loss?",
                                                 "cos(x_{l+1}, -dL/dx_{l+1})", "growth"),
                                                ("does the block grow the stream?", "cos(F_l, x_{l+1} - F_l)",
                                                 "with_stream"))]})

    curves = evidence.get("through_training") or []
    if curves and all(curves):
        epochs = [p["epoch"] for p in curves[0]]
        series = []
        for g, (kind, label) in enumerate((("mean_cos", "measured"), ("mean_null", "null (one derangement)"))):
            mean, std = band([[p[kind] for p in c] for c in curves])
            series.append({"label": label, "group": g, "style": "solid" if g == 0 else "dashed",
                           "x": epochs[:len(mean)], "y": mean, "yerr": std})
        figs.append({"id": "alignment-through-training", "title": "Alignment through training",
                     "caption": "Mean over blocks of cos(F_l, -dL/dx_{l+1}) on the training probe's fixed batch of "
                                "training examples, recorded while training (train-mode batch norm; epoch 0 = "
                                "initialization), against that probe's single-derangement null; mean over seeds, "
                                "band = +-1 std. The verdict reads the trained checkpoint on held-out examples in "
                                "both modes (the table above).",
                     "panels": [{"title": net, "kind": "line", "xlabel": "epoch", "ylabel": "mean cos over blocks",
                                 "series": series, "hlines": [{"y": 0.0, "label": "orthogonal"}]}]})
    return numbers, figs
