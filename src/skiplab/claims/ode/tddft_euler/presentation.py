"""The table and figures of tddft-euler (rule.py), in the results.json schema."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from skiplab.probes.stability import boundary_locus

from .rule import checks

FLOOR = 1e-16  # log axes: a deviation of exactly 0 is drawn at float64's resolution
PROPS = ("euler", "rk4", "crank-nicolson", "exponential-midpoint", "etrs")


def present(evidence: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    ev = evidence
    rows: list[list[Any]] = [[c["check"], c["measured"], c["limit"],
                              "not judged (step cap)" if c["ok"] is None else ("pass" if c["ok"] else "FAIL")]
                             for c in checks(ev)]
    for name, ex in ev["exact"].items():  # beside the verdict: functional error against the exact answer
        first = ex["excitations"][int(np.argmax(np.array(ex["strengths"]) > 0.05))] if ex["excitations"] else None
        rows.append([f"{name}: exact ground energy / first bright excitation (beside the verdict)",
                     ex["ground_energy"], f"{first:.4f} Ha" if first is not None else "", ex["method"]])
        for key, sp in ev["spectra"].items():
            if key.startswith(f"{name} ") and sp["propagator"] == "etrs":
                p = sp["peaks"][0] if sp["peaks"] else None
                rows.append([f"{key}: ground energy / first peak (strength)", sp["ground_energy"],
                             f"{p['omega']:.4f} Ha ({p['strength']:.3f})" if p else "no peak",
                             f"{sp['scf_iterations']} SCF iterations"])
    numbers = {"columns": ["check", "measured", "limit", "result"], "rows": rows,
               "format": {"measured": "float", "limit": "text", "result": "text"}}
    return numbers, [_norms(ev, "norm"), _norms(ev, "energy"), _growth(ev), _regions(ev), _spectra(ev),
                     _convergence(ev)]


def _dev(values: list[float | None], ref: float, rel: bool) -> list[float | None]:
    out = []
    for v in values:
        if v is None or not math.isfinite(v):
            out.append(None)
        else:
            out.append(max(abs(v / ref - 1) if rel else abs(v - ref), FLOOR))
    return out


def _norms(ev: dict[str, Any], key: str) -> dict[str, Any]:
    study = ev["study"]
    panels = []
    for dt in ev["scale"]["dts"]:
        series = []
        for g, p in enumerate(PROPS):
            r = next((r for r in study["runs"] if r["propagator"] == p and r["dt"] == dt), None)
            if r is None:
                continue
            c = r["curves"]
            label = p + (f" (diverged, step {r['diverged_step']})" if r["diverged_step"] else "")
            y = _dev(c[key], c[key][0], rel=key == "norm")  # relative for the norm, in Ha for the energy
            series.append({"label": label, "group": g, "x": c["t"], "y": y})
        panels.append({"title": f"dt = {dt:g}", "kind": "line", "xlabel": "t (a.u.)", "yscale": "log",
                       "ylabel": "|N(t) / N(0) - 1|" if key == "norm" else "|E(t) - E(0+)| (Ha)", "series": series})
    what = "norm" if key == "norm" else "total energy"
    return {"id": f"tddft-euler-{key}", "title": f"Kicked helium (ALDA): {what} against time, per propagator and step",
            "caption": f"Forward Euler grows at every dt (|1 - i dt E| > 1 for every mode); RK4 is stable only for "
                       f"dt |E_max| <= 2 sqrt(2), i.e. dt <= {ev['rk4']['h_theory']:.4g} on this grid; Crank-Nicolson, "
                       f"exponential midpoint and ETRS stay at rounding level. Deviations of exactly 0 are drawn at "
                       f"{FLOOR:g}; a run stops where its norm passes 1e6 N.",
            "panels": panels}


def _growth(ev: dict[str, Any]) -> dict[str, Any]:
    series = []
    for g, r in enumerate(r for r in ev["euler"]["runs"] if r["state"] == "kicked ground state"):
        n, meas, theo = r["curve"]
        series.append({"label": f"dt {r['dt']:g}: Euler (law checked to n = {min(r['horizon'], r['steps'])})",
                       "group": g, "x": n, "y": meas})
        series.append({"label": "theory (exact arithmetic)" if g == 0 else None, "group": g, "x": n, "y": theo,
                       "style": "dashed"})
    return {"id": "tddft-euler-growth", "title": "Forward Euler on a fixed H: measured norm vs sum_k |c_k|^2 (1 + h^2 E_k^2)^n",
            "caption": "Soft-Coulomb hydrogen, independent electrons, a kicked ground state (kappa "
                       f"{ev['scale']['law_kappa']:g}). Solid: the norm Euler produces; dashed: the product of "
                       "sqrt(1 + h^2 E^2) per mode, weighted by the state's components (equal up to the step in "
                       "the legend). Past it, rounding errors, seeded in every mode at 1e-16 and amplified fastest in "
                       "the highest one (by 1 + h^2 E_max^2 per step), take over: in floating point, forward Euler's "
                       "blow-up is set by the stiffest mode the grid holds, whatever the state.",
            "panels": [{"title": "norm", "kind": "line", "xlabel": "step n", "ylabel": "N(n) / N(0)", "yscale": "log",
                        "series": series}]}


def _regions(ev: dict[str, Any]) -> dict[str, Any]:
    rk4x, rk4y, _ = boundary_locus("rk4")
    locus = {"label": "RK4 |R(z)| = 1", "group": 7, "x": rk4x, "y": rk4y, "style": "points"}
    e = np.array(ev["rk4"]["spectrum"])
    tdks = [{"label": f"z = -i dt E_k, dt {dt:g}", "group": g, "x": [0.0] * len(e), "y": (-dt * e).tolist()}
            for g, dt in enumerate(ev["scale"]["dts"])]
    blocks = [{"label": f"h = {h}: {b['inside_euler']:.0%} inside", "group": g, "x": b["re"], "y": b["im"]}
              for g, (h, b) in enumerate(ev["blocks"].items())]
    circle = {"center": [-1, 0], "radius": 1}
    return {"id": "tddft-euler-regions", "title": "The same |1 + z| <= 1 picture: a Kohn-Sham step and a residual block",
            "caption": "Euler's stability disk |1 + z| <= 1 (dashed circle) and RK4's boundary. Left: a step of "
                       "psi' = -i H psi has z = -i dt E_k on the imaginary axis (hydrogen's grid Hamiltonian): Euler's "
                       "disk touches it only at 0, so every mode grows; RK4 holds |z| <= 2 sqrt(2). Right: z = "
                       "eigenvalues of d(h F)/dx for the blocks of a residual MLP at initialization (tanh): x + h F(x) "
                       "is Euler with step h, stable where these lie inside the disk.",
            "panels": [{"title": "Kohn-Sham: -i dt H", "kind": "complex", "xlabel": "Re z", "ylabel": "Im z",
                        "mark_one": False, "circle": circle, "series": [*tdks, locus]},
                       {"title": "residual blocks: h dF/dx", "kind": "complex", "xlabel": "Re z", "ylabel": "Im z",
                        "mark_one": False, "circle": circle, "series": [*blocks, locus]}]}


def _spectra(ev: dict[str, Any]) -> dict[str, Any]:
    panels = []
    for name, title in (("h", "soft-Coulomb hydrogen"), ("he", "soft-Coulomb helium")):
        ex = ev["exact"][name]
        series = [{"label": "exact", "group": 7, "x": ex["omega"], "y": ex["strength"], "style": "dashed"}]
        for g, (key, label) in enumerate(((f"{name} exx etrs", "TDHF"), (f"{name} lda etrs", "ALDA"))):
            sp = ev["spectra"][key]
            series.append({"label": label, "group": g, "x": sp["omega"], "y": sp["strength"]})
        panels.append({"title": title, "kind": "line", "xlabel": "omega (Ha)", "ylabel": "S(omega) (1/Ha)",
                       "series": series})
    return {"id": "tddft-euler-spectra", "title": "Dipole strength function after a kick: exact vs TDHF vs ALDA",
            "caption": f"ETRS, dt {ev['scale']['dt_spectrum']:g}, T = {ev['scale']['t_spectrum']:g} a.u., polynomial "
                       "window; the exact curve is the exact lines (diagonalization; helium on the 2D grid, singlets) "
                       "passed through the same window. For one electron TDHF is exact; for helium the gap between "
                       "the curves is the adiabatic functional's error, not the propagator's.",
            "panels": panels}


def _convergence(ev: dict[str, Any]) -> dict[str, Any]:
    series = []
    for g, p in enumerate(PROPS):
        rs = sorted((r for r in ev["study"]["runs"] if r["propagator"] == p and math.isfinite(r["error"])),
                    key=lambda r: r["dt"])
        if rs:
            series.append({"label": p, "group": g, "x": [r["dt"] for r in rs],
                           "y": [max(r["error"], FLOOR) for r in rs], "style": "solid"})
    return {"id": "tddft-euler-convergence", "title": "Dipole error against RK4 at a small step, same functional",
            "caption": f"Kicked helium, ALDA, t = {ev['study']['t_end']:g} a.u.; error = max_t |d - d_ref| / max_t "
                       f"|d_ref - d_0|, reference RK4 at dt {ev['study']['dt_ref']:g}. Diverged runs (Euler at every "
                       "dt, RK4 above its limit) are left out.",
            "panels": [{"title": "error vs dt", "kind": "line", "xlabel": "dt", "ylabel": "relative dipole error",
                        "xscale": "log", "yscale": "log", "series": series}]}
