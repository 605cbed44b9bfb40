"""euler-stability: the verdict on synthetic evidence of 6 seeds (all three outcomes, and replication on seed
halves), the measured stability grid against theory away from the boundary, boundary loci on |R(z)| = 1, and the per-block gradient factor |R(z)| on linear
branches (float64)."""

import math

import numpy as np
import pytest
import torch

from skiplab.claims.ode import euler_stability
from skiplab.claims.ode.euler_stability import measurement as M, rule as E
from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED
from skiplab.claims.core.stats import judge
from skiplab.report.figures import render_figure

SEEDS = 6
DIVERGED = (None,) * SEEDS
TRAINS = (0.3, 0.4, 0.35, 0.3, 0.45, 0.4)  # nats: about 0.15 ln 10, far below 0.5 ln 10


def run(loss, diverged=None):
    return {"curve": [2.3, 1.0] if loss is not None else [2.3], "diverged_step": diverged, "loss": loss,
            "seconds": 1.0, "solves": 10, "unconverged": 0}


def evidence(euler=DIVERGED, implicit=TRAINS, grid_disagree=0):
    """Evidence in measure()'s shape; a loss of None means the run diverged at step 3."""
    grid = {r: {"x": [-1.0, 0.5], "y": [0.0, 0.0], "measured": [True, False], "theory": [True, False],
                "excluded": [False, False], "disagree": 0, "compared": 2} for r in E.RULES}
    grid["rk4"]["disagree"] = grid_disagree
    return {"seeds": list(range(SEEDS)), "scale": dict(vars(M.QUICK)), "grid": grid,
            "locus": {r: {"x": [0.0, -2.0], "y": [0.0, 0.0], "ordered": True} for r in E.RULES},
            "real": {r: {"measured": v, "theory": v} for r, v in E.EXPECTED.items()},
            "sweep": {"euler": [{"lambda": [-1.0, 0.0], "measured": 2.0, "theory": 2.0, "exact": 2.0}],
                      "implicit-euler": [{"lambda": [-1.0, 0.0], "measured": None, "theory": None, "exact": None}]},
            "grad_linear": {"euler z=-2.5": {"rule": "euler", "z": -2.5, "norms": [2.25, 1.5, 1.0],
                                             "factors": [1.5, 1.5], "theory": 1.5}},
            "stiff": {"euler": [run(v, None if v is not None else 3) for v in euler],
                      "rk4": [run(None, 2)] * SEEDS,
                      "implicit-euler": [run(v, None if v is not None else 3) for v in implicit]},
            "grad_stiff": {r: [[4.0, 1.0]] * SEEDS for r in E.STIFF_RULES},
            "spectra": {"depth": 20, "seeds": [{"inside_all": 0.9, "max_amp": [1.2, 0.8], "real": [-1.0, 0.1],
                                                "imag": [0.0, 0.2]}]}}


def test_verdict_all_outcomes():
    v = E.verdict(evidence())
    assert v.verdict == SUPPORTED and "6 seeds" in v.reason
    # ending above chance counts as failing too (diverged runs count as 2 ln 10)
    assert E.verdict(evidence(euler=(None, 3.0, None, 4.0, None, 3.5))).verdict == SUPPORTED
    # the verification fails: a bug, whatever the training says
    v = E.verdict(evidence(grid_disagree=1))
    assert v.verdict == NOT_SUPPORTED and "verification" in v.reason
    bad = evidence()
    bad["real"]["rk4"]["measured"] = -2.5
    assert E.verdict(bad).verdict == NOT_SUPPORTED
    # implicit Euler never trains (diverges or ends near chance)
    assert E.verdict(evidence(implicit=(None, None, 2.0, 2.2, None, 2.1))).verdict == NOT_SUPPORTED
    # explicit Euler trains fine
    assert E.verdict(evidence(euler=(0.2, 0.3, 0.4, 0.3, 0.25, 0.35))).verdict == NOT_SUPPORTED
    # seeds disagree: explicit Euler diverges on half of them and trains on the other half
    assert E.verdict(evidence(euler=(None, 0.3, None, 0.3, None, 0.3))).verdict == INCONCLUSIVE
    # implicit Euler fails on one seed: its interval reaches above 0.5 ln 10
    assert E.verdict(evidence(implicit=(0.3, 2.0, 0.3, 0.35, 0.3, 0.4))).verdict == INCONCLUSIVE


def test_verdict_replication_halves_disagree():
    # implicit Euler fails on one seed of the second half only: all six still clear the margin, that half does not
    j = judge(E.verdict, evidence(implicit=(0.3, 0.35, 0.3, 0.3, 1.0, 0.3)), SEEDS)
    assert j["verdict"].verdict == SUPPORTED
    assert [h["verdict"] for h in j["replication"]["halves"]] == [SUPPORTED, INCONCLUSIVE]
    assert j["replication"]["replicated"] is False
    assert judge(E.verdict, evidence(), SEEDS)["replication"]["replicated"] is True


def test_present_renders_every_figure():
    numbers, figs = euler_stability.present(evidence())
    assert len(numbers["rows"][0]) == len(numbers["columns"])
    assert {f["id"] for f in figs} >= {"euler-stability-regions", "euler-stability-stiff", "euler-stability-gradients"}
    for f in figs:
        assert render_figure(f)[:4] == b"\x89PNG"


@pytest.mark.parametrize("name", E.RULES)
def test_measured_grid_equals_theory_away_from_the_boundary(name):
    re, im = np.arange(-4.0, 1.01, 0.5), np.arange(-3.5, 3.51, 0.5)
    tol = E.LEAPFROG_TOL if name == "leapfrog" else E.BOUNDARY_TOL
    g = M.grid_comparison(name, re, im, 8, tol)
    assert g["compared"] >= (12 if name == "leapfrog" else 150)
    assert g["disagree"] == 0
    assert any(g["measured"]) and not all(g["measured"])  # both sides of the boundary are on the grid


@pytest.mark.parametrize("name", ["euler", "heun", "rk4", "implicit-euler"])
def test_boundary_locus_lies_on_the_unit_modulus_set(name):
    x, y, ordered = M.boundary_locus(name, n=90)
    z = np.array(x) + 1j * np.array(y)
    assert np.allclose(np.abs(M.INTEGRATORS[name].amplification(z)), 1, atol=1e-4)  # the locus is rounded to 1e-5
    assert ordered == (name in ("euler", "implicit-euler"))


def test_h_sweep_known_answers():
    assert M.h_sweep("euler", complex(-10, 0), 1.0, 8, 50)["measured"] == pytest.approx(0.2, abs=1e-6)
    assert M.h_sweep("euler", complex(-1, 3), 1.0, 8, 50)["measured"] == pytest.approx(0.2, abs=1e-6)
    assert M.h_sweep("rk4", complex(0, 2), 5.0, 8, 50)["measured"] == pytest.approx(2 ** 0.5, abs=1e-6)
    assert M.h_sweep("implicit-euler", complex(-1, 3), 3.0, 8, 20)["measured"] is None


@pytest.mark.parametrize("rule,z", [("euler", -0.5), ("euler", -2.5), ("euler", -5.0), ("implicit-euler", -5.0)])
def test_per_block_gradient_factor_is_the_amplification_on_a_linear_branch(rule, z):
    s = M.EulerScale(width=8, h=0.5)
    net = M._stiff_net(s, rule, 0, {"in_channels": 4, "num_classes": 3}, 6, torch.full((8,), z / s.h), 0.0)
    x = torch.randn(16, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y = torch.arange(16) % 3
    f = M.factors(M.block_gradients(net, x, y))
    want = abs(M.INTEGRATORS[rule].amplification(z))  # |1 + z| for euler, 1 / |1 - z| for implicit euler
    assert len(f) == 6
    assert np.allclose(f, want, rtol=1e-12 if rule == "euler" else 1e-5, atol=0)


def test_stiff_training_records_divergence_as_data():
    s = M.EulerScale(width=8, depth=4, kappa=5.0, steps=20, batch=16)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (64,), generator=gen)
    out = M.train_stiff(M._stiff_net(s, "euler", 0, {"in_channels": 4, "num_classes": 3}), x, y, 20, 16, 0.05, 0)
    assert out["diverged_step"] is not None and out["loss"] is None and math.isinf(E.final_loss(out))
