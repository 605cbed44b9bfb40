"""The table and figures of euler-stability (rule.py), in the results.json schema."""

from __future__ import annotations

import math
from typing import Any

from skiplab.claims.core.stats import summary

from .rule import CHANCE, EXPECTED, FACTOR_TOL, H_TOL, REAL_TOL, STIFF_RULES, TRAINED, final_loss


def _c(lam: list[float]) -> str:
    a, b = lam
    return f"{a:g}" if not b else (f"{b:g}i" if not a else f"{a:g}{b:+g}i")


def _h(v: float | None) -> str:
    return "stable" if v is None else f"{v:.4g}"


def present(evidence: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    ev, sc = evidence, evidence["scale"]
    rows: list[list[Any]] = []
    for r, g in ev["grid"].items():
        rows.append(["grid of z = h lambda", r, f"{g['compared']} points off the boundary",
                     f"{g['compared'] - g['disagree']} agree", "|R(z)| <= 1" if r != "leapfrog" else "|h w| <= 2",
                     g["disagree"] == 0])
    for r, b in ev["real"].items():
        want, got = EXPECTED[r], b["measured"]
        ok = (want is None and got is None) or (want is not None and got is not None and abs(got - want) <= REAL_TOL)
        rows.append(["real-axis boundary" if r != "leapfrog" else "imaginary-axis boundary (-|h w|)", r, "z*",
                     got if got is not None else "none", want if want is not None else "none", ok])
    for r, ws in ev["sweep"].items():
        ok = all((w["measured"] is None) == (w["theory"] is None) and
                 (w["measured"] is None or abs(w["measured"] - w["theory"]) <= H_TOL * max(1.0, w["theory"]))
                 for w in ws)
        rows.append(["h* (first unstable h)", r, "lambda = " + ", ".join(_c(w["lambda"]) for w in ws),
                     " / ".join(_h(w["measured"]) for w in ws), " / ".join(_h(w["exact"]) for w in ws), ok])
    for k, g in ev["grad_linear"].items():
        f = [v for v in g["factors"] if math.isfinite(v)]
        gm = math.exp(sum(math.log(v) for v in f) / len(f)) if f and all(v > 0 for v in f) else None
        ok = (all(abs(v - g["theory"]) <= FACTOR_TOL * g["theory"] for v in g["factors"]) if g["rule"] == "euler"
              else "reported (GMRES adjoint)")
        rows.append(["gradient factor per block, F = lambda x", g["rule"], f"z = {g['z']:g}", gm, g["theory"], ok])
    z = -sc["h"] * sc["kappa"]
    for r in STIFF_RULES:
        runs = ev["stiff"][r]
        fin = [final_loss(x) for x in runs]
        div = sum(math.isinf(v) for v in fin)
        unconv = sum(x.get("unconverged", 0) for x in runs)
        extra = f"; {unconv}/{sum(x.get('solves', 0) for x in runs)} solves unconverged" if r == "implicit-euler" else ""
        rows.append(["stiff training: final loss", r, f"z = {z:g} on half the modes",
                     summary([v for v in fin if math.isfinite(v)]) if div < len(fin) else "all diverged",
                     f"trains < {TRAINED * CHANCE:.3g}", f"diverged {div}/{len(fin)}"
                     + "".join(f" (step {x['diverged_step']})" for x in runs if x["diverged_step"] is not None)
                     + extra])
    if "spectra" in ev:
        sp = ev["spectra"]
        zero = summary([e.get("at_zero", math.nan) for e in sp["seeds"]])["mean"]
        rows.append(["trained block spectra (beside the verdict)", f"preresnet{sp['depth']}",
                     "fraction of z = mu - 1 with |1 + z| <= 1", summary([e["inside_all"] for e in sp["seeds"]]),
                     "", f"of all z, {'n/a' if zero is None else f'{zero:.1%}'} at z = 0 "
                         f"(on the boundary); max |1 + z| per block {min(min(e['max_amp']) for e in sp['seeds']):.3g}.."
                         f"{max(max(e['max_amp']) for e in sp['seeds']):.3g}"])
    numbers = {"columns": ["measurement", "rule", "case", "measured", "theory", "agrees / note"], "rows": rows,
               "format": {"measured": "float", "theory": "float", "agrees / note": "text"}}
    return numbers, [_regions(ev), *_spectra(ev), _stiff(ev, z), _gradients(ev)]


def _regions(ev: dict[str, Any]) -> dict[str, Any]:
    panels = []
    for r, g in ev["grid"].items():
        pts = list(zip(g["x"], g["y"], g["measured"], g["theory"], g["excluded"]))
        stable = [(x, y) for x, y, m, _, _ in pts if m]
        bad = [(x, y) for x, y, m, t, e in pts if m != t and not e]
        loc = ev["locus"][r]
        series = [{"label": "measured stable", "group": 0, "x": [p[0] for p in stable], "y": [p[1] for p in stable]},
                  {"label": "|R(z)| = 1 (theory)", "group": 7, "x": loc["x"], "y": loc["y"],
                   "style": "solid" if loc["ordered"] else "points"}]
        if bad:
            series.append({"label": "disagrees with theory", "group": 1, "x": [p[0] for p in bad],
                           "y": [p[1] for p in bad]})
        panels.append({"title": r, "kind": "complex", "xlabel": "Re h lambda", "ylabel": "Im h lambda",
                       "mark_one": False, "series": series})
    return {"id": "euler-stability-regions", "title": "Stability regions: measured grid points vs |R(z)| = 1",
            "caption": f"Blue: grid points (step {ev['scale']['grid_step']}) where running the rule on y' = lambda y "
                       "does not grow the norm; grey: the theoretical boundary by the boundary-locus method. Leapfrog "
                       "is tested on the imaginary axis only (its test field is an oscillator).", "panels": panels}


def _spectra(ev: dict[str, Any]) -> list[dict[str, Any]]:
    if "spectra" not in ev or not ev["spectra"]["seeds"]:
        return []
    e = ev["spectra"]["seeds"][0]
    return [{"id": "euler-stability-spectra",
             "title": f"h * spectra of trained preresnet{ev['spectra']['depth']} blocks against Euler's region",
             "caption": f"z = mu - 1 for every eigenvalue mu of each shape-preserving block's Jacobian (seed 0, "
                        f"eval-mode BN); {e['inside_all']:.1%} lie in |1 + z| <= 1 (dashed), {e.get('at_zero', 0):.1%} "
                        "exactly at z = 0 on its boundary (ReLU masks make dF/dx rank-deficient). Reported beside the "
                        "verdict.",
             "panels": [{"title": "trained blocks", "kind": "complex", "xlabel": "Re z", "ylabel": "Im z",
                         "mark_one": False, "circle": {"center": [-1, 0], "radius": 1},
                         "series": [{"label": "z = h lambda", "x": e["real"], "y": e["imag"]}]}]}]


def _stiff(ev: dict[str, Any], z: float) -> dict[str, Any]:
    series = [{"label": r if i == 0 else None, "group": g, "x": list(range(len(run["curve"]))), "y": run["curve"]}
              for g, r in enumerate(STIFF_RULES) for i, run in enumerate(ev["stiff"][r])]
    sc = ev["scale"]
    return {"id": "euler-stability-stiff", "title": f"Stiff residual MLP (z = {z:g} on half the modes): training loss",
            "caption": f"Depth {sc['depth']}, width {sc['width']}, linear branches, {sc['steps']} SGD steps of batch "
                       f"{sc['batch']}, lr {sc['lr']}; one line per seed. A line that stops diverged (NaN/inf).",
            "panels": [{"title": "batch loss", "kind": "line", "xlabel": "SGD step", "ylabel": "cross-entropy",
                        "yscale": "log", "series": series,
                        "hlines": [{"y": CHANCE, "label": "chance"}, {"y": TRAINED * CHANCE, "label": "trained"}]}]}


def _gradients(ev: dict[str, Any]) -> dict[str, Any]:
    lin = [{"label": k, "group": i, "x": list(range(len(g["norms"]))), "y": g["norms"],
            "style": "dashed" if g["rule"] != "euler" else "solid"} for i, (k, g) in enumerate(ev["grad_linear"].items())]
    stiff = [{"label": r if i == 0 else None, "group": g, "x": list(range(len(n))), "y": n}
             for g, r in enumerate(STIFF_RULES) for i, n in enumerate(ev["grad_stiff"][r])]
    return {"id": "euler-stability-gradients", "title": "||dL/dx_l|| by block at initialization",
            "caption": "Left: linear branches F = lambda x (float64): the norm changes by |R(z)| per block, "
                       "decaying inside Euler's region (|1 + z| < 1: vanishing gradients of a stable, over-damped "
                       "step) and growing outside it. Right: the stiff nets of the training run.",
            "panels": [{"title": "F = lambda x", "kind": "line", "xlabel": "block l", "ylabel": "||dL/dx_l||",
                        "yscale": "log", "series": lin},
                       {"title": "stiff nets", "kind": "line", "xlabel": "block l", "ylabel": "||dL/dx_l||",
                        "yscale": "log", "series": stiff}]}
