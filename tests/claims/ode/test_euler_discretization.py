"""euler-discretization: the verdict's three outcomes on synthetic evidence, the weight-smoothness statistic on
weights with a known answer, and the verification's fitted orders on a real (small) float64 run."""

import math

import pytest
import torch

from skiplab.claims.ode import euler_discretization as E
from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED
from skiplab.models import create_model

ORDERS = {"euler": 1, "heun": 2, "midpoint": 2, "rk4": 4, "leapfrog": 2}
STEPS = [4, 8, 16, 32, 64]


def evidence(orders=ORDERS, r_deep=(0.3, 0.3, 0.3), s_shallow=1.0, s_deep=0.5):
    errors = {rule: [[0.1 * L ** -p for L in STEPS]] * 3 for rule, p in orders.items()}
    smooth = lambda s, r: {"S": s, "S_shuffled": s / r, "r": r, "pairs": [s]}  # noqa: E731
    return {"seeds": [0, 1, 2], "steps": STEPS, "horizon": 1.0, "errors": errors, "depths": [20, 56],
            "trained": {"20": [smooth(s_shallow, 0.9)] * 3, "56": [smooth(s_deep, r) for r in r_deep]},
            "init": {"20": [smooth(1.4, 1.0)] * 3, "56": [smooth(1.4, 1.0)] * 3}}


def test_all_outcomes():
    assert E.verdict(evidence()).verdict == SUPPORTED
    assert E.verdict(evidence(r_deep=(0.95, 1.0, 0.9))).verdict == NOT_SUPPORTED
    assert E.verdict(evidence(r_deep=(0.3, 0.95, 0.3))).verdict == INCONCLUSIVE
    assert E.verdict(evidence(s_deep=1.2)).verdict == INCONCLUSIVE  # smooth, but not smoother with depth
    # a wrong order is a failed verification (a bug), whatever the trained nets show
    v = E.verdict(evidence(orders={**ORDERS, "rk4": 3}))
    assert v.verdict == NOT_SUPPORTED and "rk4" in v.reason


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
