"""highway-gates: highway gates T(x) choose how much highway to use (T near 1: the plain transform, T near 0: an
identity wire); the always-open ResNet highway trains reliably at depth (Srivastava et al. 2015). The highway
nets are the plain/residual ladder's twins (same skeleton, same recipe); the ladder's plain and residual runs are
reused, so only the highway runs are new."""

from __future__ import annotations

import math
from typing import Any

import torch

from skiplab.guards import buffers_kept, prepare
from skiplab.claims.depth import degradation
from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Claim, Context, Verdict
from skiplab.claims.depth.ladder import scale_config, spec
from skiplab.claims.core.engine import Done
from skiplab.claims.core.datasets import probe_batch
from skiplab.claims.core.stats import agreement, fmt_pct, summary

# The thresholds are the degradation claim's, so "trains" and "degrades" mean the same thing in both claims:
TARGET = degradation.TARGET  # trains reliably: full-pass train error below 1% after the ladder's budget
MARGIN = degradation.MARGIN  # a difference counts when it exceeds 1 percentage point
FAMILIES = ("plain", "resnet", "highway")

CLAIM = Claim(
    id="highway-gates",
    kind="empirical",
    statement="Highway gates T(x) choose how much highway to use; T near 1 behaves like a plain net, T near 0 like "
              "an identity wire; the always-open ResNet highway trains reliably at depth.",
    source="Srivastava, Greff & Schmidhuber 2015",
    rule=(f"Full-pass train error (eval mode) of plain, residual and highway twins at the ladder's depths after "
          f"the ladder's budget, per seed. Not supported if the deepest residual net misses {TARGET:.0%} on every "
          f"seed (it does not train reliably at depth), or if the deepest highway net is worse than the deepest "
          f"plain net by more than {MARGIN:.0%} on every seed (its gates cannot even choose the plain transform). "
          f"Otherwise inconclusive if the plain net does not degrade (deepest minus shallowest above {MARGIN:.0%}) "
          f"on every seed: depth is then no challenge at this budget. Supported if the residual net is below "
          f"{TARGET:.0%} at every depth on every seed and the deepest highway net is no worse than the deepest plain "
          f"net + {MARGIN:.0%} on every seed; otherwise inconclusive. The gate part is descriptive: mean and spread "
          f"of T over examples, channels and positions per gated block, at init and trained (train-mode batch "
          f"norm, the gradient probe's fixed batch), reported with the share of blocks leaning to carry (T < 0.5)."),
)


def runs(ctx: Context):
    return [spec(ctx, fam, d, s) for fam in FAMILIES for d in scale_config(ctx).depths for s in ctx.seed_list]


def gate_stats(net: Any, x: torch.Tensor) -> list[dict[str, Any]]:
    """Per gated block: mean, std, 10% and 90% quantiles of T(x_in) over all elements (examples x channels x
    positions) of the batch x. Train-mode batch norm (the gradient probe's mode; at init the running statistics
    are still the defaults), running statistics and the model's mode restored."""
    was = net.training
    net.train()
    try:
        with torch.no_grad(), buffers_kept(net):
            inter = net.forward_intermediates(prepare(net, x))
            names, blocks, out = list(inter), dict(net.blocks()), []
            for k, name in enumerate(names[1:]):  # names[k] is block k's input
                if blocks[name].kind != "gated":
                    continue
                t = blocks[name].gate(inter[names[k]]).double().flatten()
                q = torch.quantile(t, torch.tensor([0.1, 0.9], dtype=t.dtype)) if t.numel() <= 2 ** 24 else None
                out.append({"block": name, "index": k, "mean": float(t.mean()), "std": float(t.std()),
                            "q10": float(q[0]) if q is not None else math.nan,
                            "q90": float(q[1]) if q is not None else math.nan})
    finally:
        net.train(was)
    return out


def measure(ctx: Context, done: Done) -> dict[str, Any]:
    scale = scale_config(ctx)
    errors: dict[str, Any] = {}
    gates: dict[str, Any] = {}
    for fam in FAMILIES:
        for d in scale.depths:
            errors[f"{fam}-{d}"] = [degradation._train_err(done.metrics(spec(ctx, fam, d, s))[-1])
                                    for s in ctx.seed_list]
    for d in scale.depths:
        per_seed = []
        for s in ctx.seed_list:
            sp = spec(ctx, "highway", d, s)
            x, _ = probe_batch(done.dataset(sp), scale.probe_examples)
            per_seed.append({"init": gate_stats(done.model(sp, trained=False), x),
                             "trained": gate_stats(done.model(sp, trained=True), x)})
        gates[str(d)] = per_seed
    return {"depths": list(scale.depths), "seeds": ctx.seed_list, "errors": errors, "gates": gates}


def verdict(evidence: dict[str, Any]) -> Verdict:
    e, depths = evidence["errors"], evidence["depths"]
    lo, hi = min(depths), max(depths)
    res_deep, plain_deep, hw_deep = e[f"resnet-{hi}"], e[f"plain-{hi}"], e[f"highway-{hi}"]
    hw_minus_plain = [h - p for h, p in zip(hw_deep, plain_deep)]
    plain_diff = [a - b for a, b in zip(plain_deep, e[f"plain-{lo}"])]
    vals = [v for d in depths for f in FAMILIES for v in e[f"{f}-{d}"]]
    if not all(math.isfinite(v) for v in vals):
        return Verdict(INCONCLUSIVE, "precondition failed: a train error is missing or not finite (diverged run)")
    said = (f"train error at depth {hi}: residual {fmt_pct(summary(res_deep))}, plain {fmt_pct(summary(plain_deep))},"
            f" highway {fmt_pct(summary(hw_deep))}; plain-{hi} minus plain-{lo} {fmt_pct(summary(plain_diff))}")
    if all(v >= TARGET for v in res_deep):
        return Verdict(NOT_SUPPORTED, f"the deepest residual net does not reach {TARGET:.0%} on any seed: {said}")
    if agreement(hw_minus_plain, MARGIN) == "above":
        return Verdict(NOT_SUPPORTED, f"the deepest highway net trains worse than its plain twin on every seed: "
                                      f"{said}")
    if agreement(plain_diff, MARGIN) != "above":
        return Verdict(INCONCLUSIVE, f"the plain net does not degrade with depth on every seed, so this budget does "
                                     f"not test training at depth: {said}")
    res_all = all(v < TARGET for d in depths for v in e[f"resnet-{d}"])
    if res_all and all(v <= MARGIN for v in hw_minus_plain):
        return Verdict(SUPPORTED, f"the residual net trains below {TARGET:.0%} at every depth while the plain net "
                                  f"degrades, and the highway net does at least as well as plain: {said}")
    return Verdict(INCONCLUSIVE, f"seeds disagree: {said}")


def gate_summary(per_seed: list[dict[str, Any]], when: str) -> dict[str, Any]:
    """Over seeds: per gated block the mean T and the mean within-block std; overall mean and carry share."""
    stats = [s[when] for s in per_seed if s[when]]
    if not stats:
        return {"index": [], "mean": [], "std": [], "overall": None, "carry_share": None}
    mean = [sum(s[b]["mean"] for s in stats) / len(stats) for b in range(len(stats[0]))]
    std = [sum(s[b]["std"] for s in stats) / len(stats) for b in range(len(stats[0]))]
    return {"index": [b["index"] for b in stats[0]], "mean": mean, "std": std, "overall": sum(mean) / len(mean),
            "carry_share": sum(m < 0.5 for m in mean) / len(mean)}


def present(evidence: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    depths, e = evidence["depths"], evidence["errors"]
    rows = []
    for fam in FAMILIES:
        for d in depths:
            gi, gt = (gate_summary(evidence["gates"][str(d)], w) for w in ("init", "trained"))
            hw = fam == "highway"
            rows.append([fam, d, summary(e[f"{fam}-{d}"]), gi["overall"] if hw else None,
                         gt["overall"] if hw else None, gt["carry_share"] if hw else None])
    numbers = {"columns": ["net", "depth", "train error", "mean T init", "mean T trained",
                           "blocks with T < 0.5 (trained)"], "rows": rows,
               "format": {"train error": "percent", "mean T init": "float", "mean T trained": "float",
                          "blocks with T < 0.5 (trained)": "percent"}}
    series = []
    for g, fam in enumerate(FAMILIES):
        st = [summary(e[f"{fam}-{d}"]) for d in depths]
        series.append({"label": fam, "group": g, "x": depths, "y": [s["mean"] for s in st],
                       "yerr": [s["std"] for s in st]})
    trainability = {"id": "highway-gates-trainability", "title": "Train error against depth: highway, residual, plain",
                    "caption": "Full-pass train error after the ladder's budget, mean over seeds, band = +-1 std.",
                    "panels": [{"title": "same budget", "kind": "line", "xlabel": "depth (weighted layers)",
                                "ylabel": "train error", "yscale": "symlog", "series": series,
                                "hlines": [{"y": TARGET, "label": f"{TARGET:.0%}"}]}]}
    panels = []
    for d in depths:
        gseries = []
        for when, style in (("trained", "solid"), ("init", "dashed")):
            gs = gate_summary(evidence["gates"][str(d)], when)
            if gs["mean"]:
                gseries.append({"label": when, "style": style, "group": 0 if when == "trained" else 1,
                                "x": gs["index"], "y": gs["mean"], "yerr": gs["std"]})
        panels.append({"title": f"highway-{d}", "kind": "line", "xlabel": "block index", "ylabel": "mean T(x)",
                       "series": gseries, "hlines": [{"y": 0.5, "label": "T = 0.5"}]})
    gates = {"id": "highway-gates-gates", "title": "Transform gate T(x) by block (0: carry x, 1: transform)",
             "caption": "Mean over examples, channels and positions (then over seeds); band = +-1 std of T within a "
                        "block. Missing indices are the plain stride-2 transitions, which have no gate.",
             "panels": panels}
    return numbers, [trainability, gates]


def budget(ctx: Context) -> str:
    return "plain/residual/highway twins; " + scale_config(ctx).describe(ctx.seeds)
