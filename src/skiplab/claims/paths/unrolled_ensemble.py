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

import math
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
from skiplab.claims.core.stats import Effect, chosen, effect, summary

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
          f"net's error <= {MAX_ERROR:.0%} on every seed, else inconclusive. Effects, each a mean over seeds judged "
          f"on its 95% t-interval: each net's d, and the plain twin's d minus the equal-depth ResNet's (paired per "
          f"seed), as rates on the n test examples (margin raised to 2 binomial standard errors of the two error "
          f"rates, interval widened by that held-out noise); the deepest ResNet's largest fall and largest rise of "
          f"E from k to k+1 per seed (margin raised to 2 seed-to-seed standard errors). Supported if the "
          f"verification holds, both ResNets' d lie below {BARELY * 100:g} points, the plain twin's d above "
          f"{CATASTROPHIC * 100:g} points, the largest fall below {DIP * 100:g} points and the largest rise below "
          f"{JUMP * 100:g} points. Not supported if the verification fails, or the plain-minus-ResNet difference "
          f"lies below {BARELY * 100:g} points (the plain twin as robust), or a ResNet's d lies above "
          f"{CATASTROPHIC * 100:g} points (catastrophic). Otherwise inconclusive."),
    fair_test=("Lesions are made on trained nets that have learned (held-out error bounded), in eval mode with "
               "batch norm calibrated on training data, on held-out examples; downsampling blocks are set apart "
               "(their shortcut changes the shape), the residual net is compared with a plain twin of equal depth "
               "whose layer is replaced by its input where the shape allows, and the unrolled sum is checked "
               "exactly on pre-activation nets, for which it holds."),
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
    n_examples = []
    for label, fam, depth in nets(ctx):
        per_seed = []
        for s in ctx.seed_list:
            sp = spec(ctx, fam, depth, s)
            data = done.dataset(sp)
            net = done.model(sp, trained=True).to(dev)
            mode = calibrate_batchnorm(net, calibration_batch(data, CALIBRATION)[0].to(dev))
            x, y = heldout_batch(data, min(HELD_OUT, len(data.test_y)))
            n_examples.append(len(y))
            per_seed.append(lesion_study(net, x, y, k_values=range(1, K_MAX + 1), draws=DRAWS, seed=s,
                                         bn_mode=mode))
        out["nets"][label] = {"family": fam, "depth": depth, "seeds": per_seed}
    out["examples"] = min(n_examples)  # the held-out examples every error rate was read on (the same for every net)
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


def worst_steps(curve: list[float]) -> tuple[float, float]:
    """(largest fall, largest rise) of the curve from k to k+1 (NaN for a curve of one point)."""
    steps = [b - a for a, b in zip(curve, curve[1:])]
    return (max(-s for s in steps), max(steps)) if steps else (math.nan, math.nan)


def verdict(evidence: dict[str, Any]) -> Verdict:
    labels = list(evidence["nets"])
    deep, twin, plain = labels
    studies = {lab: evidence["nets"][lab]["seeds"] for lab in labels}
    d = {lab: [single_increase(s) for s in studies[lab]] for lab in labels}
    base = {lab: [s["base"]["error"] for s in studies[lab]] for lab in labels}
    rel = max(v["max_rel"] for v in evidence["verification"].values())
    if not rel <= EXACT:
        return Verdict(NOT_SUPPORTED, f"the unrolled sum does not reproduce the forward pass: max relative deviation "
                                      f"{rel:.1e}")
    errors = [e for lab in labels for e in chosen(base[lab])]
    if any(e > MAX_ERROR for e in errors) or any(v != v for lab in labels for v in chosen(d[lab])):
        return Verdict(INCONCLUSIVE, f"precondition failed: an intact net's held-out error exceeds {MAX_ERROR:.0%} "
                                     f"(max {max(errors):.1%}) or no lesion was measurable")
    n = evidence["examples"]

    def lesioned(lab: str) -> list[float]:  # the error with the median block deleted
        return [b + x for b, x in zip(base[lab], d[lab])]

    def increase(lab: str, margin: float) -> Effect:
        return effect(f"{lab} median single-lesion increase", d[lab], margin, examples=n,
                      rates=[lesioned(lab), base[lab]], held_out=True)

    barely = [increase(lab, BARELY) for lab in (deep, twin)]
    catastrophic = [increase(lab, CATASTROPHIC) for lab in (deep, twin)]
    plain_cat = increase(plain, CATASTROPHIC)
    gap = effect(f"{plain} minus {twin} single-lesion increase", [p - r for p, r in zip(d[plain], d[twin])], BARELY,
                 examples=n, rates=[lesioned(plain), lesioned(twin)], held_out=True)
    # The smoothness of E(k) is a largest step over k of one net's paired differences, not a rate on n examples:
    # judged against the seed-to-seed noise (DIP is itself the allowance for the test set's noise).
    worst = [worst_steps(k_curve(s)) for s in studies[deep]]
    fall = effect(f"{deep} largest fall of error from k to k+1 (points)", [100 * w[0] for w in worst], 100 * DIP)
    rise = effect(f"{deep} largest rise of error from k to k+1 (points)", [100 * w[1] for w in worst], 100 * JUMP)
    said = "; ".join(e.text() for e in [*barely, plain_cat, gap, fall, rise]) + \
        f"; unrolled sum max relative deviation {rel:.1e}"
    if (all(e.call == "below" for e in barely) and plain_cat.call == "above" and fall.call == "below"
            and rise.call == "below"):
        return Verdict(SUPPORTED, f"residual lesions barely hurt, plain lesions are catastrophic: {said}")
    if gap.call == "below" or any(e.call == "above" for e in catastrophic):
        said = "; ".join(e.text() for e in catastrophic) + f"; {said}"
        return Verdict(NOT_SUPPORTED, f"the plain twin is as robust, or residual lesions are catastrophic: {said}")
    return Verdict(INCONCLUSIVE, f"an interval straddles its margin: {said}")


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
