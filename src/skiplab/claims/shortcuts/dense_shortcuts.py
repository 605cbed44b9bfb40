"""dense-shortcuts: in a DenseNet every layer has a short path to the output, giving early layers a direct, strong
gradient (Huang et al. 2017). Compared with a ResNet of about the same parameter count, trained with the same
recipe (the ladder's), on the same gradient-signal records the ladder's claims read."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import networkx as nx

from skiplab.claims.depth.signals import at_epoch, layer_signals, log_first_over_last
from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Claim, Context, Verdict
from skiplab.claims.depth.ladder import scale_config, spec
from skiplab.claims.core.engine import Done, RunSpec
from skiplab.claims.core.stats import chosen, effect, fmt, summary
from skiplab.train.experiment import ModelConfig

# (name, model, overrides) per scale. Quick: DenseNet-BC L=40 k=12 (175,690 params on 1-channel 8x8 digits) vs
# resnet20 at width 0.8 (173,310): matched within 2%. Full: DenseNet-BC L=100 (768,730 on CIFAR) vs the
# ladder's resnet56 (852,730, 11% more; shared with the ladder, so no extra 164-epoch run).
PAIRS: dict[str, tuple[tuple[str, str, dict], tuple[str, str, dict]]] = {
    "quick": (("densenet", "densenet-bc40", {}), ("resnet", "resnet20", {"width_mult": 0.8})),
    "full": (("densenet", "densenet-bc100", {}), ("resnet", "resnet56", {})),
}
NETS = ("densenet", "resnet")
MARGIN = 0.0  # no size registered for d: any difference beyond 2 seed-to-seed standard errors counts, either sign

CLAIM = Claim(
    id="dense-shortcuts",
    kind="empirical",
    statement="In a DenseNet every layer has a short path to the output, giving early layers a direct, strong "
              "gradient.",
    source="Huang et al. 2017",
    rule=("A DenseNet-BC and a ResNet of about the same parameter count (within 2% quick, 11% full), same recipe "
          "and seeds. Per seed, r = log(g_first / g_last) with g_l = ||dL/dx_l|| ||x_l|| (stem output vs last "
          "block output) on a fixed training batch in train mode, at initialization and after training; "
          "d = r(DenseNet) - r(ResNet), seed s paired with seed s. The mean of d over seeds, at init and trained, "
          f"each judged on its 95% t-interval against a margin of {MARGIN:g} raised to 2 seed-to-seed standard "
          "errors, on both sides: supported if both intervals lie above +margin (the DenseNet's early layers get "
          "relatively more signal); not supported if both lie below -margin; otherwise inconclusive (also if a "
          "signal is not finite). The hop distance from each layer to the output in net.graph() is reported, not "
          "judged."),
    fair_test=("The DenseNet and the ResNet have about the same parameter count and are trained with the same "
               "recipe, data and seeds; the gradient signal is scale-invariant (||dL/dx_l|| ||x_l||, so a rescaled "
               "layer cannot fake a strong gradient) and read per layer at init and after training; graph "
               "distances are counted in each net's own graph, within and across dense blocks."),
)


def _pair(ctx: Context) -> tuple[tuple[str, str, dict], tuple[str, str, dict]]:
    return PAIRS[ctx.scale]


def run_spec(ctx: Context, model: str, args: dict, seed: int) -> RunSpec:
    """The ladder's run (data, recipe, probe) for any model: a ladder spec with the model swapped, so a model the
    ladder also trains (full: resnet56) gets the ladder's key and is shared."""
    base = spec(ctx, "resnet", 20, seed)
    return replace(base, run=replace(base.run, model=ModelConfig(model, args)))


def runs(ctx: Context) -> list[RunSpec]:
    return [run_spec(ctx, model, args, s) for _, model, args in _pair(ctx) for s in ctx.seed_list]


def layer_distances(net: Any) -> list[int]:
    """Hops from each block's output to the "output" node of `net.graph()`, in forward order. For a dense layer
    (kind "concat") its own new features (`.branch`) are the layer's output: the concatenation node is only what
    the next layer reads, while the features themselves feed every later concatenation directly."""
    g = net.graph()
    to_out = nx.single_source_shortest_path_length(g.reverse(copy=False), "output")
    out = []
    for name, block in net.blocks():
        if block.kind == "concat":
            node = f"{name}.branch"
        else:  # the block's last node (its add / mix / link-add): what the next block reads
            node = [v for v, a in g.nodes(data=True) if a.get("block") == name][-1]
        out.append(to_out[node])
    return out


def _final_err(rows: list[dict[str, Any]]) -> float:
    return rows[-1].get("train_full_err", rows[-1].get("train_err", math.nan)) if rows else math.nan


def measure(ctx: Context, done: Done) -> dict[str, Any]:
    nets: dict[str, Any] = {}
    for key, model, args in _pair(ctx):
        specs = [run_spec(ctx, model, args, s) for s in ctx.seed_list]
        net = done.model(specs[0], trained=False)
        per_seed = []
        for sp in specs:
            recs = done.gradients(sp)
            init, last = at_epoch(recs, 0), (recs[-1] if recs and recs[-1]["epoch"] > 0 else None)
            per_seed.append({"init": layer_signals(init) if init else [],
                             "trained": layer_signals(last) if last else [],
                             "r_init": log_first_over_last(init) if init else math.nan,
                             "r_trained": log_first_over_last(last) if last else math.nan,
                             "train_err": _final_err(done.metrics(sp))})
        nets[key] = {"model": model, "args": dict(args), "params": net.num_parameters(),
                     "blocks": [n for n, _ in net.blocks()], "kinds": [b.kind for _, b in net.blocks()],
                     "distance": layer_distances(net), "seeds": per_seed}
    return {"seeds": ctx.seed_list, "nets": nets}


def diffs(evidence: dict[str, Any], when: str) -> list[float]:
    d, r = evidence["nets"]["densenet"]["seeds"], evidence["nets"]["resnet"]["seeds"]
    return [a[f"r_{when}"] - b[f"r_{when}"] for a, b in zip(d, r)]


def verdict(evidence: dict[str, Any]) -> Verdict:
    di, dt = diffs(evidence, "init"), diffs(evidence, "trained")
    if not chosen(di) or not all(math.isfinite(v) for v in chosen(di) + chosen(dt)):
        return Verdict(INCONCLUSIVE, "precondition failed: a gradient signal was not finite (or missing)")
    n = evidence["nets"]
    at_init = effect("r(DenseNet) - r(ResNet) at init", di, MARGIN)
    trained = effect("r(DenseNet) - r(ResNet) trained", dt, MARGIN)
    said = (f"{at_init.text()}; {trained.text()} ({n['densenet']['model']} {n['densenet']['params']:,} params vs "
            f"{n['resnet']['model']} {n['resnet']['params']:,})")
    if at_init.sign == trained.sign == "positive":
        return Verdict(SUPPORTED, f"the DenseNet's early layers get relatively more gradient signal: {said}")
    if at_init.sign == trained.sign == "negative":
        return Verdict(NOT_SUPPORTED, f"the DenseNet's early layers get relatively less gradient signal than the "
                                      f"ResNet's: {said}")
    return Verdict(INCONCLUSIVE, f"an interval straddles the margin, or init and trained disagree: {said}")


def _profile(seeds: list[dict[str, Any]], when: str) -> list[float]:
    """g_l / g_last, averaged over seeds (same net, so the same number of layers)."""
    profs = [[v / p[-1] for v in p] for p in (s[when] for s in seeds) if p and p[-1] > 0]
    return [sum(c) / len(c) for c in zip(*profs)] if profs else []


def present(evidence: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    rows = []
    for key in NETS:
        n = evidence["nets"][key]
        rows.append([key, n["model"], n["params"], summary([s["r_init"] for s in n["seeds"]]),
                     summary([s["r_trained"] for s in n["seeds"]]), max(n["distance"]),
                     sum(n["distance"]) / len(n["distance"]), summary([s["train_err"] for s in n["seeds"]])])
    numbers = {"columns": ["net", "model", "params", "r at init", "r trained", "max hops to output",
                           "mean hops to output", "train error"], "rows": rows,
               "format": {"params": "int", "r at init": "float", "r trained": "float", "max hops to output": "int",
                          "mean hops to output": "float", "train error": "percent"}}
    grad, dist = [], []
    for g, key in enumerate(NETS):
        n = evidence["nets"][key]
        for when, style in (("init", "solid"), ("trained", "dashed")):
            prof = _profile(n["seeds"], when)
            if prof:
                grad.append({"label": f"{n['model']} {when}", "group": g, "style": style,
                             "x": [i / max(1, len(prof) - 1) for i in range(len(prof))], "y": prof})
        dist.append({"label": n["model"], "group": g, "x": [(i + 1) / len(n["distance"]) for i in
                                                            range(len(n["distance"]))], "y": n["distance"]})
    figs = [
        {"id": "dense-shortcuts-gradient", "title": "Gradient signal by layer, DenseNet vs ResNet",
         "caption": "g_l / g_last with g_l = ||dL/dx_l|| ||x_l|| (layer 0 = stem output), mean over seeds; solid: "
                    f"init, dashed: trained. The verdict compares r = log(g_0 / g_last) "
                    f"(d: {fmt(summary(diffs(evidence, 'init')))} init, "
                    f"{fmt(summary(diffs(evidence, 'trained')))} trained).",
         "panels": [{"title": "relative gradient signal", "kind": "line", "xlabel": "relative depth (0 = stem)",
                     "ylabel": "g_l / g_last", "yscale": "log", "series": grad,
                     "hlines": [{"y": 1.0, "label": "last layer"}]}]},
        {"id": "dense-shortcuts-distance", "title": "Shortest path from each layer to the output (hops in net.graph())",
         "caption": "A dense layer's own features reach the end of their dense block in one hop; a ResNet block's "
                    "output passes through every later addition.",
         "panels": [{"title": "graph distance", "kind": "line", "xlabel": "relative depth of the layer",
                     "ylabel": "hops to output", "series": dist}]},
    ]
    return numbers, figs


def budget(ctx: Context) -> str:
    (_, dm, _), (_, rm, ra) = _pair(ctx)
    extra = f" (width {ra['width_mult']})" if "width_mult" in ra else ""
    return f"{dm} vs {rm}{extra}; " + scale_config(ctx).describe(ctx.seeds)

