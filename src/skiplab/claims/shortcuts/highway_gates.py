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
from skiplab.claims.core.stats import chosen, effect, summary

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
    rule=(f"Full-pass train error (eval mode) of plain and residual twins at the ladder's depths and highway "
          f"twins at its shallowest and deepest (every depth at full scale), after the ladder's budget. Effects, "
          f"each a mean over seeds judged on its 95% t-interval as rates on the training split's n examples "
          f"(margin raised to 2 binomial standard errors of one run's rates where larger; a full pass over the "
          f"training split, not held out): the "
          f"residual net's train error at each depth against {TARGET:.0%}; the deepest highway net's minus the "
          f"deepest plain net's, paired per seed, against {MARGIN:.0%}; the plain net's deepest minus shallowest, "
          f"paired per seed, against {MARGIN:.0%}. Not supported if the deepest residual net's interval lies above "
          f"{TARGET:.0%} (it does not train reliably at depth), or the highway-minus-plain interval lies above its "
          f"margin (its gates cannot even choose the plain transform). Otherwise inconclusive unless the plain "
          f"net's depth difference lies above its margin (else depth is no challenge at this budget). Supported if "
          f"the residual net's interval lies below {TARGET:.0%} at every depth and the highway-minus-plain interval "
          f"below its margin; otherwise inconclusive. The gate part is descriptive: mean and spread of T over "
          f"examples, channels and positions per gated block, at init and trained (train-mode batch norm, the "
          f"gradient probe's fixed batch), reported with the share of blocks leaning to carry (T < 0.5)."),
    fair_test=("The highway, residual and plain nets are twins (the same skeleton, data, recipe, budget and seeds: "
               "the ladder's), so only the skip differs; trainability is full-pass train error, and the verdict "
               "needs the plain net to degrade with depth, else the budget does not test training at depth; the "
               "gates are read per block on a fixed batch at init and after training."),
)


def highway_depths(ctx: Context) -> list[int]:
    """The highway twins' depths: every ladder depth at full scale; at quick scale the shallowest and deepest only.
    The verdict reads only the deepest; the shallowest gives trainability and gates a second depth. The middle
    depth is left out at quick scale to fit the 6-seed CPU budget (a highway run costs about as much per layer as
    the ladder's own; the three quick depths 8/20/56 cost in proportion, so 8 + 56 is ~3/4 of them)."""
    depths = scale_config(ctx).depths
    return sorted({min(depths), max(depths)}) if ctx.scale == "quick" else list(depths)


def runs(ctx: Context):
    fams = {"plain": scale_config(ctx).depths, "resnet": scale_config(ctx).depths, "highway": highway_depths(ctx)}
    return [spec(ctx, fam, d, s) for fam in FAMILIES for d in fams[fam] for s in ctx.seed_list]


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
    hw = highway_depths(ctx)
    errors: dict[str, Any] = {}
    gates: dict[str, Any] = {}
    for fam in FAMILIES:
        for d in hw if fam == "highway" else scale.depths:
            errors[f"{fam}-{d}"] = [degradation._train_err(done.metrics(spec(ctx, fam, d, s))[-1])
                                    for s in ctx.seed_list]
    for d in hw:
        per_seed = []
        for s in ctx.seed_list:
            sp = spec(ctx, "highway", d, s)
            x, _ = probe_batch(done.dataset(sp), scale.probe_examples)
            per_seed.append({"init": gate_stats(done.model(sp, trained=False), x),
                             "trained": gate_stats(done.model(sp, trained=True), x)})
        gates[str(d)] = per_seed
    # train error is a full pass over the training split (at most max_eval_examples of it): the n of its noise
    data = done.dataset(spec(ctx, "plain", scale.depths[0], ctx.seed_list[0]))
    cap = scale.train.max_eval_examples
    n = len(data.train_y) if cap is None else min(cap, len(data.train_y))
    return {"depths": list(scale.depths), "highway_depths": hw, "seeds": ctx.seed_list, "train_examples": n,
            "errors": errors, "gates": gates}


def _hw_depths(evidence: dict[str, Any]) -> list[int]:
    return evidence.get("highway_depths", evidence["depths"])  # results written before the cut had all depths


def verdict(evidence: dict[str, Any]) -> Verdict:
    e, depths, n = evidence["errors"], evidence["depths"], evidence["train_examples"]
    lo, hi = min(depths), max(depths)
    if not all(math.isfinite(v) for vals in e.values() for v in chosen(vals)):
        return Verdict(INCONCLUSIVE, "precondition failed: a train error is missing or not finite (diverged run)")

    def rate(name: str, values: list[float], margin: float, *arms: list[float]):
        return effect(name, values, margin, examples=n, rates=arms or [values], held_out=False)

    res = {d: rate(f"resnet-{d} train error", e[f"resnet-{d}"], TARGET) for d in depths}
    hw, plain = e[f"highway-{hi}"], e[f"plain-{hi}"]
    hw_minus_plain = rate(f"highway-{hi} minus plain-{hi} train error", [a - b for a, b in zip(hw, plain)], MARGIN,
                          hw, plain)
    degrades = rate(f"plain-{hi} minus plain-{lo} train error", [a - b for a, b in zip(plain, e[f"plain-{lo}"])],
                    MARGIN, plain, e[f"plain-{lo}"])
    said = "; ".join(x.text() for x in (res[hi], hw_minus_plain, degrades))
    if res[hi].call == "above":
        return Verdict(NOT_SUPPORTED, f"the deepest residual net does not reach {TARGET:.0%} train error: {said}")
    if hw_minus_plain.call == "above":
        return Verdict(NOT_SUPPORTED, f"the deepest highway net trains worse than its plain twin: {said}")
    if degrades.call != "above":
        return Verdict(INCONCLUSIVE, f"the plain net does not clearly degrade with depth, so this budget does not "
                                     f"test training at depth: {said}")
    said = "; ".join(res[d].text() for d in depths if d != hi) + f"; {said}"
    if all(r.call == "below" for r in res.values()) and hw_minus_plain.call == "below":
        return Verdict(SUPPORTED, f"the residual net trains below {TARGET:.0%} at every depth while the plain net "
                                  f"degrades, and the highway net does at least as well as plain: {said}")
    return Verdict(INCONCLUSIVE, f"an interval straddles its margin: {said}")


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
    depths, e, hw_depths = evidence["depths"], evidence["errors"], _hw_depths(evidence)
    fam_depths = {fam: hw_depths if fam == "highway" else depths for fam in FAMILIES}
    rows = []
    for fam in FAMILIES:
        for d in fam_depths[fam]:
            hw = fam == "highway"
            gi, gt = ((gate_summary(evidence["gates"][str(d)], w) for w in ("init", "trained")) if hw
                      else ({}, {}))
            rows.append([fam, d, summary(e[f"{fam}-{d}"]), gi["overall"] if hw else None,
                         gt["overall"] if hw else None, gt["carry_share"] if hw else None])
    numbers = {"columns": ["net", "depth", "train error", "mean T init", "mean T trained",
                           "blocks with T < 0.5 (trained)"], "rows": rows,
               "format": {"train error": "percent", "mean T init": "float", "mean T trained": "float",
                          "blocks with T < 0.5 (trained)": "percent"}}
    series = []
    for g, fam in enumerate(FAMILIES):
        st = [summary(e[f"{fam}-{d}"]) for d in fam_depths[fam]]
        series.append({"label": fam, "group": g, "x": fam_depths[fam], "y": [s["mean"] for s in st],
                       "yerr": [s["std"] for s in st]})
    trainability = {"id": "highway-gates-trainability", "title": "Train error against depth: highway, residual, plain",
                    "caption": "Full-pass train error after the ladder's budget, mean over seeds, band = +-1 std.",
                    "panels": [{"title": "same budget", "kind": "line", "xlabel": "depth (weighted layers)",
                                "ylabel": "train error", "yscale": "symlog", "series": series,
                                "hlines": [{"y": TARGET, "label": f"{TARGET:.0%}"}]}]}
    panels = []
    for d in hw_depths:
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
    return (f"plain/residual twins, highway twins at depths {'/'.join(map(str, highway_depths(ctx)))}; "
            + scale_config(ctx).describe(ctx.seeds))
