"""unrolled-ensemble: x_L = x_0 + sum_i F_i(x_i), so a ResNet behaves like an ensemble of paths (Veit et al. 2016):
deleting one block barely hurts (downsampling blocks aside), deleting a plain layer is catastrophic, and the error
grows smoothly with the number of blocks deleted.

Verification: the unrolled sum on pre-activation nets in float64 (probes/unrolled.py), random weights.
Empirical: lesions (probes/lesions.py) of the ladder's trained nets, in eval mode with batch norm calibrated on
training data. Nets: the deepest ladder ResNet (quick resnet56, full resnet110: Veit et al.'s net) and, as the
residual/plain pair of equal depth, the middle ladder depth (quick 20, full 56). The plain twin is taken at the middle
depth because the deepest plain net is the degradation claim's untrainable case: lesioning a net at chance error
says nothing. Original post-activation ResNets are used because those are what Veit et al. lesioned; the plain
twin's lesion is "the layer replaced by its input" where the shape allows (Veit et al.'s VGG lesion)."""

from __future__ import annotations

import statistics
from typing import Any

import torch

from skiplab.models import calibrate_batchnorm, create_model
from skiplab.probes import lesion_study
from skiplab.train.loop import resolve_device
from skiplab.probes.unrolled import unrolled_check
from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Claim, Context, Verdict
from skiplab.claims.depth.ladder import scale_config, spec
from skiplab.claims.core.engine import Done
from skiplab.claims.core.datasets import calibration_batch, heldout_batch
from skiplab.claims.core.stats import fmt, summary

# Thresholds, fixed before any result was seen. Errors are fractions; "points" are percentage points.
BARELY = 0.05  # "barely hurts": median single-lesion error increase of a residual net below 5 points
CATASTROPHIC = 0.20  # "catastrophic": the plain twin's median increase above 20 points (Veit et al.: VGG -> chance)
DIP = 0.03  # "smooth": the mean error over draws never falls by more than 3 points from k to k+1 (noise) ...
JUMP = 0.20  # ... and never rises by 20 points or more in one step of k (no cliff)
MAX_ERROR = 0.25  # fair test: every intact net must have learned (held-out error <= 25%)
EXACT = 1e-12  # verification: relative deviation of the float64 unrolled sum from the forward pass
K_MAX, DRAWS = 10, 5  # random deletions k = 1..10 (at most the eligible blocks), 5 draws each
CALIBRATION, HELD_OUT = 1024, 2000

CLAIM = Claim(
    id="unrolled-ensemble",
    kind="verification + empirical",
    statement="x_L = x_0 + sum_i F_i(x_i); deleting one block of a trained ResNet barely hurts (downsampling blocks "
              "aside), deleting a plain layer is catastrophic; error grows smoothly with the number deleted.",
    source="Veit et al. 2016",
    rule=(f"Verification: on random-weight pre-activation nets in float64, within every run of shape-preserving "
          f"additive blocks x_end = x_start + sum F_i(x_i) (and x_(l+1) = shortcut(x_l) + F(x_l) at a downsampling "
          f"block, where the sum restarts) to relative deviation <= {EXACT:g}. Empirical, on the ladder's trained "
          f"post-activation nets (deepest ResNet; ResNet and plain twin at the middle depth), eval mode, batch norm "
          f"calibrated on {CALIBRATION} training examples, up to {HELD_OUT} held-out test examples: d = median over "
          f"non-downsampling blocks of the error increase when that block alone is deleted; E(k) = mean error over "
          f"{DRAWS} random draws of k deleted non-downsampling blocks, k = 1..{K_MAX}. Precondition: every intact "
          f"net's error <= {MAX_ERROR:.0%} on every seed, else inconclusive. Supported if the verification holds "
          f"and on every seed d < {BARELY * 100:g} points for both ResNets, d > {CATASTROPHIC * 100:g} points for "
          f"the plain twin, and the deepest ResNet's E(k) never falls by more than {DIP * 100:g} points nor rises by "
          f"{JUMP * 100:g} points or more from k to k+1. Not supported if the verification fails, or on every seed "
          f"the plain twin's d <= the equal-depth ResNet's d + {BARELY * 100:g} points (as robust), or on every "
          f"seed a ResNet's d >= {CATASTROPHIC * 100:g} points (catastrophic). Otherwise inconclusive."),
)


def nets(ctx: Context) -> list[tuple[str, str, int]]:
    """(label, ladder family, depth) of every lesioned net."""
    d = scale_config(ctx).depths
    return [(f"resnet{d[-1]}", "resnet", d[-1]), (f"resnet{d[1]}", "resnet", d[1]), (f"plain{d[1]}", "plain", d[1])]


def runs(ctx: Context):
    return [spec(ctx, fam, depth, s) for _, fam, depth in nets(ctx) for s in ctx.seed_list]


def budget(ctx: Context) -> str:
    labels = ", ".join(label for label, _, _ in nets(ctx))
    return (f"{labels} (the depth ladder's runs, reused), lesioned on up to {HELD_OUT} test examples; "
            + scale_config(ctx).describe(ctx.seeds))


def _verification(ctx: Context, data: Any) -> dict[str, Any]:
    kwargs = data.model_kwargs()
    x = heldout_batch(data, 16)[0].double()
    out = {}
    for depth in sorted({scale_config(ctx).jacobian_depth, scale_config(ctx).depths[-1]}):
        with torch.random.fork_rng():  # seeded weights without touching the caller's RNG
            torch.manual_seed(depth)
            net = create_model("preresnet20", depth=depth, **kwargs).double()
        calibrate_batchnorm(net, calibration_batch(data, 256)[0].double())  # non-trivial BN statistics
        out[f"preresnet{depth}"] = unrolled_check(net, x)
    return out


def measure(ctx: Context, done: Done) -> dict[str, Any]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # hundreds of small lesioned passes: a second thread mostly synchronises
    try:
        return _measure(ctx, done)
    finally:
        torch.set_num_threads(threads)


def _measure(ctx: Context, done: Done) -> dict[str, Any]:
    dev = resolve_device("auto")  # the full scale's 110-layer lesions want the GPU where there is one
    out: dict[str, Any] = {"seeds": ctx.seed_list, "nets": {}, "k_max": K_MAX, "draws": DRAWS}
    for label, fam, depth in nets(ctx):
        per_seed = []
        for s in ctx.seed_list:
            sp = spec(ctx, fam, depth, s)
            data = done.dataset(sp)
            net = done.model(sp, trained=True).to(dev)
            mode = calibrate_batchnorm(net, calibration_batch(data, CALIBRATION)[0].to(dev))
            x, y = heldout_batch(data, min(HELD_OUT, len(data.test_y)))
            per_seed.append(lesion_study(net, x, y, k_values=range(1, K_MAX + 1), draws=DRAWS, seed=s,
                                         bn_mode=mode))
        out["nets"][label] = {"family": fam, "depth": depth, "seeds": per_seed}
    out["verification"] = _verification(ctx, done.dataset(spec(ctx, "resnet", scale_config(ctx).depths[1], 0)))
    return out


def single_increase(study: dict[str, Any]) -> float:
    """Median error increase over the lesionable non-downsampling blocks (NaN if there are none)."""
    base = study["base"]["error"]
    inc = [e - base for e, ch in zip(study["single"]["error"], study["shape_changing"]) if e is not None and not ch]
    return statistics.median(inc) if inc else float("nan")


def k_curve(study: dict[str, Any]) -> list[float]:
    return [sum(row) / len(row) for row in study["random"]["error"]]


def smooth(curve: list[float]) -> bool:
    steps = [b - a for a, b in zip(curve, curve[1:])]
    return all(-DIP <= s < JUMP for s in steps)


def verdict(evidence: dict[str, Any]) -> Verdict:
    labels = list(evidence["nets"])
    deep, twin, plain = labels
    studies = {lab: evidence["nets"][lab]["seeds"] for lab in labels}
    d = {lab: [single_increase(s) for s in studies[lab]] for lab in labels}
    rel = max(v["max_rel"] for v in evidence["verification"].values())
    said = (f"median single-lesion error increase (points): {deep} {fmt(summary([v * 100 for v in d[deep]]))}, "
            f"{twin} {fmt(summary([v * 100 for v in d[twin]]))}, {plain} {fmt(summary([v * 100 for v in d[plain]]))}; "
            f"unrolled sum max relative deviation {rel:.1e}")
    if not rel <= EXACT:
        return Verdict(NOT_SUPPORTED, f"the unrolled sum does not reproduce the forward pass: {said}")
    errors = [s["base"]["error"] for lab in labels for s in studies[lab]]
    if any(e > MAX_ERROR for e in errors) or any(v != v for lab in labels for v in d[lab]):
        return Verdict(INCONCLUSIVE, f"precondition failed: an intact net's held-out error exceeds {MAX_ERROR:.0%} "
                                     f"(max {max(errors):.1%}) or no lesion was measurable; {said}")
    curves = [k_curve(s) for s in studies[deep]]
    smooth_all = all(smooth(c) for c in curves)
    said += f"; {deep} error vs k smooth on {sum(smooth(c) for c in curves)} of {len(curves)} seeds"
    if (all(v < BARELY for v in d[deep] + d[twin]) and all(v > CATASTROPHIC for v in d[plain]) and smooth_all):
        return Verdict(SUPPORTED, f"residual lesions barely hurt, plain lesions are catastrophic: {said}")
    if all(p <= r + BARELY for p, r in zip(d[plain], d[twin])) or any(
            all(v >= CATASTROPHIC for v in d[lab]) for lab in (deep, twin)):
        return Verdict(NOT_SUPPORTED, f"the plain twin is as robust, or residual lesions are catastrophic: {said}")
    return Verdict(INCONCLUSIVE, f"between the thresholds or seeds disagree: {said}")


def _downsampling_increase(study: dict[str, Any]) -> float:
    inc = [e - study["base"]["error"] for e, ch in zip(study["single"]["error"], study["shape_changing"])
           if ch and e is not None]
    return statistics.mean(inc) if inc else float("nan")


def _mean_band(rows: list[list[float | None]]) -> tuple[list, list]:
    """Mean and std over seeds per index (None where a block is not lesionable)."""
    out_m, out_s = [], []
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
                     summary(down), summary(swaps), kmax, summary(last)])
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
        km, ks = _mean_band([k_curve(s) for s in seeds])
        k_series.append({"label": label, "group": g, "style": "solid", "x": seeds[0]["random"]["k"], "y": km,
                         "yerr": ks})
    ver = evidence["verification"]
    rows.append([f"unrolled sum ({', '.join(ver)}, float64): max relative deviation "
                 f"{max(v['max_rel'] for v in ver.values()):.1e}", None, None, None, None, None, None, None])
    numbers = {"columns": ["net", "blocks", "intact error", "median single-lesion increase",
                           "downsampling-lesion increase", "median swap increase", "k", "error, k deleted"],
               "rows": rows, "format": {"blocks": "int", "intact error": "percent",
                                        "median single-lesion increase": "percent",
                                        "downsampling-lesion increase": "percent", "median swap increase": "percent",
                                        "k": "int", "error, k deleted": "percent"}}
    figs = [{"id": "unrolled-single-lesions", "title": "Held-out error with one block deleted (Veit et al. Fig. 3)",
             "caption": "Mean over seeds, band = +-1 std; points: downsampling blocks (their shortcut changes the "
                        "shape; a plain net's cannot be deleted); dashed: neighbours l and l+1 swapped.",
             "panels": block_panels},
            {"id": "unrolled-random-lesions", "title": "Held-out error vs number of blocks deleted at random",
             "caption": f"Mean over {evidence['draws']} draws of k non-downsampling blocks, then over seeds "
                        "(band = +-1 std over seeds).",
             "panels": [{"title": "k random deletions", "kind": "line", "xlabel": "blocks deleted (k)",
                         "ylabel": "held-out error", "series": k_series}]}]
    return numbers, figs
