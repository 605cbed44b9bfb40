"""Every verdict function driven to all three outcomes with synthetic evidence (no training)."""

import math

from skiplab.claims.depth import degradation
from skiplab.claims.depth import degradation_cause
from skiplab.claims.depth import vanishing_gradients
from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED


def deg_evidence(finals: dict[str, list[float]], depths=(8, 20, 56)):
    """finals: {"plain-8": [seed errors], ...} -> the evidence shape degradation.measure returns."""
    nets = {}
    for key, errs in finals.items():
        fam, d = key.split("-")
        nets[key] = {"family": fam, "depth": int(d),
                     "seeds": [{"seed": i, "status": "finished", "epochs": [1, 2], "train_err": [0.5, e],
                                "test_err": [0.5, e + 0.02]} for i, e in enumerate(errs)]}
    return {"depths": list(depths), "seeds": [0, 1, 2], "nets": nets}


def ladder(plain_deep, res_deep, plain_shallow=(0.002, 0.003, 0.001), res_shallow=(0.003, 0.002, 0.004)):
    return deg_evidence({"plain-8": list(plain_shallow), "plain-20": [0.01] * 3, "plain-56": list(plain_deep),
                         "resnet-8": list(res_shallow), "resnet-20": [0.002] * 3, "resnet-56": list(res_deep)})


def test_degradation_all_outcomes():
    assert degradation.verdict(ladder([0.08, 0.06, 0.09], [0.001, 0.0, 0.002])).verdict == SUPPORTED
    assert degradation.verdict(ladder([0.004, 0.005, 0.003], [0.001, 0.0, 0.002])).verdict == NOT_SUPPORTED
    # seeds disagree
    assert degradation.verdict(ladder([0.08, 0.002, 0.09], [0.001, 0.0, 0.002])).verdict == INCONCLUSIVE
    # precondition: the deepest residual net did not reach 1% on every seed
    v = degradation.verdict(ladder([0.08, 0.06, 0.09], [0.001, 0.03, 0.002]))
    assert v.verdict == INCONCLUSIVE and "precondition" in v.reason


def curves(r_values):
    """per-seed gradient curves with the given trained r (epochs 1..2) and r = 0 at init."""
    return [[{"epoch": 0, "r": 0.0}, {"epoch": 1, "r": r}, {"epoch": 2, "r": r}] for r in r_values]


def cause_evidence(shallow_r, deep_r, degraded=True):
    deg = ladder([0.08, 0.06, 0.09] if degraded else [0.004, 0.005, 0.003], [0.001, 0.0, 0.002])
    c = {f"{f}-{d}": curves([0.0] * 3) for f in ("plain", "resnet") for d in (8, 20, 56)}
    c["plain-8"], c["plain-56"] = curves(shallow_r), curves(deep_r)
    return {"depths": [8, 20, 56], "curves": c, "degradation": deg}


def test_degradation_cause_all_outcomes():
    assert degradation_cause.verdict(cause_evidence([0, 0, 0], [-2, -1.5, -3])).verdict == SUPPORTED
    assert degradation_cause.verdict(cause_evidence([0, 0, 0], [0.1, -0.2, 0.3])).verdict == NOT_SUPPORTED
    assert degradation_cause.verdict(cause_evidence([0, 0, 0], [-2, 0.1, -3])).verdict == INCONCLUSIVE
    v = degradation_cause.verdict(cause_evidence([0, 0, 0], [-2, -1.5, -3], degraded=False))
    assert v.verdict == INCONCLUSIVE and "precondition" in v.reason


def van_evidence(plain_slopes, res_slopes, depths=(8, 20, 56)):
    nets = {}
    for fam, slopes in (("plain", plain_slopes), ("resnet", res_slopes)):
        for d in depths:
            nets[f"{fam}-{d}"] = [{"init": [1.0, 1.0], "trained": [1.0, 1.0], "r_init": s * d, "r_trained": 0.0}
                                  for s in slopes]
    return {"depths": list(depths), "seeds": [0, 1, 2], "nets": nets}


def test_vanishing_gradients_all_outcomes():
    v = vanishing_gradients.verdict(van_evidence([-0.05, -0.04, -0.06], [0.001, -0.002, 0.0]))
    assert v.verdict == SUPPORTED and "vanishes" in v.reason
    v = vanishing_gradients.verdict(van_evidence([0.05, 0.04, 0.06], [0.001, -0.002, 0.0]))
    assert v.verdict == SUPPORTED and "explodes" in v.reason
    assert vanishing_gradients.verdict(van_evidence([0.001, -0.004, 0.002], [0.0] * 3)).verdict == NOT_SUPPORTED
    assert vanishing_gradients.verdict(van_evidence([0.05, 0.04, 0.06], [0.06, 0.05, 0.07])).verdict == NOT_SUPPORTED
    assert vanishing_gradients.verdict(van_evidence([0.05, -0.04, 0.06], [0.0] * 3)).verdict == INCONCLUSIVE
    assert vanishing_gradients.verdict(van_evidence([0.05, math.nan, 0.06], [0.0] * 3)).verdict == INCONCLUSIVE
