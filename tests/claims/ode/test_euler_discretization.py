"""euler-discretization: the verdict's three outcomes on synthetic evidence of 6 seeds and its replication on
seed halves, the weight-smoothness statistic on weights with a known answer, and the verification's fitted orders
on a real (small) float64 run."""

import math

import pytest
import torch

from skiplab.claims.ode import euler_discretization as E
from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED
from skiplab.claims.core.stats import judge
from skiplab.models import create_model

ORDERS = {"euler": 1, "heun": 2, "midpoint": 2, "rk4": 4, "leapfrog": 2}
STEPS = [4, 8, 16, 32, 64]
SEEDS = 6
SMOOTH_R = (0.3, 0.25, 0.35, 0.3, 0.28, 0.32)  # 1 - r ~ 0.7, far above 1 - SMOOTH = 0.5
DEEP_S = (0.5, 0.49, 0.51, 0.5, 0.5, 0.5)


def evidence(orders=ORDERS, r_deep=SMOOTH_R, s_shallow=(1.0, 1.02, 0.98, 1.0, 1.01, 0.99), s_deep=DEEP_S):
    errors = {rule: [[0.1 * L ** -p for L in STEPS]] * SEEDS for rule, p in orders.items()}
    smooth = lambda s, r: {"S": s, "S_shuffled": s / r, "r": r, "pairs": [s]}  # noqa: E731
    return {"seeds": list(range(SEEDS)), "steps": STEPS, "horizon": 1.0, "errors": errors, "depths": [20, 56],
            "trained": {"20": [smooth(s, 0.9) for s in s_shallow], "56": [smooth(s, r) for s, r in zip(s_deep, r_deep)]},
            "init": {"20": [smooth(1.4, 1.0)] * SEEDS, "56": [smooth(1.4, 1.0)] * SEEDS}}


def test_all_outcomes():
    v = E.verdict(evidence())
    assert v.verdict == SUPPORTED and "1 - S/S_shuffled" in v.reason and "6 seeds" in v.reason
    # no more order than a shuffled arrangement: 1 - r ~ 0.05, its interval below 1 - NOT_SMOOTH = 0.2
    assert E.verdict(evidence(r_deep=(0.95, 1.0, 0.9, 0.97, 0.93, 1.0))).verdict == NOT_SUPPORTED
    # half the seeds smooth, half not: the interval of 1 - r spans both margins
    assert E.verdict(evidence(r_deep=(0.3, 0.95, 0.3, 0.9, 0.3, 0.95))).verdict == INCONCLUSIVE
    # smooth, but S does not fall from the shallowest to the deepest depth
    assert E.verdict(evidence(s_deep=(1.2, 1.3, 1.1, 1.2, 1.25, 1.15))).verdict == INCONCLUSIVE
    # a wrong order is a failed verification (a bug), whatever the trained nets show
    v = E.verdict(evidence(orders={**ORDERS, "rk4": 3}))
    assert v.verdict == NOT_SUPPORTED and "rk4" in v.reason


def test_replication_halves_disagree():
    # the first three seeds clearly smooth; in the second, one seed (r = 0.5) widens that half's 3-seed interval
    # across the 0.5 margin, while all six together still clear it
    r = (0.3, 0.28, 0.32, 0.3, 0.5, 0.3)
    j = judge(E.verdict, evidence(r_deep=r), SEEDS)
    assert j["verdict"].verdict == SUPPORTED
    assert [h["verdict"] for h in j["replication"]["halves"]] == [SUPPORTED, INCONCLUSIVE]
    assert j["replication"]["replicated"] is False
    assert judge(E.verdict, evidence(), SEEDS)["replication"]["replicated"] is True


def test_smoothness_known_answers():
    net = create_model("resnet20", input_size=(8, 8))
    with torch.no_grad():  # every conv of the first stage set to the same weights: S = 0 there
        first = [m for m in net.stages[0].blocks[0].branch.modules() if isinstance(m, torch.nn.Conv2d)]
        for block in net.stages[0].blocks[1:]:
            for m, ref in zip([m for m in block.branch.modules() if isinstance(m, torch.nn.Conv2d)], first):
                m.weight.copy_(ref.weight)
    chains = E._chains(net)
    assert [len(c) for c in chains] == [3, 2, 2]  # downsampling blocks start no chain
    assert E._roughness(chains[:1]) == 0.0
    # i.i.d. Gaussian weights: ||a - b|| / ||a|| -> sqrt 2, and shuffling changes nothing
    init = E.smoothness(create_model("resnet56", input_size=(8, 8)), seed=0)
    assert init["S"] == pytest.approx(math.sqrt(2), rel=0.05) and init["r"] == pytest.approx(1, abs=0.05)


def test_verification_orders_on_a_real_run():
    s = E.DiscretizationScale(width=8, batch=4)
    for rule in ("euler", "rk4"):
        errs = E.flow_errors(rule, s, seed=0)
        fitted = -E.slope([math.log(L) for L in s.steps], [math.log(e) for e in errs])
        assert abs(fitted - ORDERS[rule]) < E.ORDER_TOL, (rule, errs)
