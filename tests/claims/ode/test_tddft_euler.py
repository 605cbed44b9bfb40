"""tddft-euler: the verdict on synthetic evidence (all three outcomes) and its measurements on known answers."""

import copy
import math


from skiplab.claims.ode.tddft_euler import measurement as M
from skiplab.claims.ode.tddft_euler import rule as T
from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED
from skiplab.physics import Grid

H = M.SQRT8 / 80.0


def _run(p, dt, error, drift=1e-15):
    return {"propagator": p, "dt": dt, "error": error, "norm_drift": drift, "diverged_step": None,
            "curves": {"norm": [2.0, 2.0]}}


def evidence():
    """A passing evidence dict of the shape measure() returns (second-order errors, fourth for RK4)."""
    runs = [{"propagator": "euler", "dt": dt, "error": math.inf, "norm_drift": 1e6, "diverged_step": 3,
             "curves": {"norm": [2.0, 2e6]}} for dt in (0.05, 0.025)]
    runs += [_run(p, dt, 1e-3 * (dt / 0.05) ** 2) for p in T.UNITARY for dt in (0.05, 0.025)]
    runs += [_run("rk4", dt, 1e-4 * (dt / 0.01) ** 4) for dt in (0.01, 0.005)]
    spectra = {f"{s} {f} {p}": {"trk": 1.0 if s == "h" else 2.0, "peaks": [{"omega": 0.395 if s == "h" else 0.47}]}
               for s, f, p in (("h", "exx", "etrs"), ("h", "lda", "etrs"), ("he", "exx", "etrs"),
                               ("he", "lda", "etrs"), ("he", "lda", "crank-nicolson"),
                               ("he", "lda", "exponential-midpoint"))}
    return {"capped": False, "scale": {"t_spectrum": 300.0},
            "euler": {"runs": [{"dt": 0.01, "state": "eigenmode E_0", "max_rel_dev": 4e-16, "max_rel_dev_all": 0.8,
                                "horizon": 68, "steps": 200}]},
            "rk4": {"e_max": 80.0, "h_star": H * (1 + 1e-9), "h_theory": H, "random": {"0.99": 0.7, "1.02": 1e4}},
            "kick": {"energy": 0.01, "energy_theory": 0.01, "velocity": 0.2, "velocity_theory": 0.2, "electrons": 2},
            "study": {"runs": runs}, "spectra": spectra, "exact": {"h": {"excitations": [0.3949]}}}


def test_verdict_all_outcomes():
    ev = evidence()
    assert T.verdict(ev).verdict == SUPPORTED
    bad = copy.deepcopy(ev)
    bad["rk4"]["h_star"] = H * 1.01  # RK4 turning unstable away from 2 sqrt(2): a bug
    v = T.verdict(bad)
    assert v.verdict == NOT_SUPPORTED and "RK4" in v.reason
    leaky = copy.deepcopy(ev)
    leaky["study"]["runs"][3]["norm_drift"] = 1e-6  # a "unitary" propagator losing norm
    assert T.verdict(leaky).verdict == NOT_SUPPORTED
    capped = copy.deepcopy(ev)
    capped["capped"] = True
    capped["spectra"]["h exx etrs"]["peaks"] = []  # too short to resolve: not judged, not failed
    v = T.verdict(capped)
    assert v.verdict == INCONCLUSIVE and "not judged" in v.reason
    capped["euler"]["runs"][0]["max_rel_dev"] = 1e-3  # a failure the cap cannot excuse
    assert T.verdict(capped).verdict == NOT_SUPPORTED


def test_euler_law_and_rk4_limit_measured_on_a_small_grid():
    grid, b = Grid(6.0, 0.4), M.Budget(10 ** 9)
    law = M.euler_law(grid, (0.02,), 40, 0.5, b)
    assert max(r["max_rel_dev"] for r in law["runs"]) < T.EULER_TOL
    rk = M.rk4_limit(grid, 600, 0, b)
    assert abs(rk["h_star"] * rk["e_max"] / M.SQRT8 - 1) < T.RK4_TOL
    assert rk["random"]["0.99"] <= T.RK4_BELOW and rk["random"]["1.02"] >= T.RK4_ABOVE
    assert rk["euler_at_0.1"] > 1 and not b.capped
