"""highway-gates: the verdict on synthetic evidence of 6 seeds (all three outcomes, and replication on seed
halves) and gate statistics of known nets."""

import math

import pytest
import torch

from skiplab.claims.shortcuts import highway_gates as hg
from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Context
from skiplab.claims.core.stats import judge
from skiplab.claims.depth.ladder import spec
from skiplab.models import create_model

SEEDS = 6
RES_OK = (0.0, 0.001, 0.002, 0.001, 0.0, 0.001)
PLAIN_DEEP = (0.6, 0.65, 0.7, 0.62, 0.68, 0.66)
HW_OK = (0.01, 0.02, 0.0, 0.01, 0.015, 0.005)


def evidence(res_deep=RES_OK, plain_deep=PLAIN_DEEP, hw_deep=HW_OK, plain_shallow=(0.0,) * SEEDS):
    e = {f"{f}-{d}": [0.0] * SEEDS for f in ("plain", "resnet") for d in (8, 20, 56)}
    e.update({"highway-8": [0.0] * SEEDS, "resnet-56": list(res_deep), "plain-56": list(plain_deep),
              "highway-56": list(hw_deep), "plain-8": list(plain_shallow)})
    stat = {"block": "stages.0.blocks.0", "index": 0, "mean": 0.3, "std": 0.1, "q10": 0.2, "q90": 0.4}
    gates = {str(d): [{"init": [stat], "trained": [dict(stat, mean=0.7)]}] * SEEDS for d in (8, 56)}
    return {"depths": [8, 20, 56], "highway_depths": [8, 56], "seeds": list(range(SEEDS)), "train_examples": 1347,
            "errors": e, "gates": gates}


def test_all_outcomes():
    v = hg.verdict(evidence())
    assert v.verdict == SUPPORTED and "6 seeds" in v.reason
    # the residual net misses 1% at depth: its interval lies above the margin
    assert hg.verdict(evidence(res_deep=(0.05, 0.03, 0.08, 0.04, 0.06, 0.05))).verdict == NOT_SUPPORTED
    # the highway net is worse than plain
    assert hg.verdict(evidence(hw_deep=(0.8, 0.9, 0.85, 0.82, 0.88, 0.86))).verdict == NOT_SUPPORTED
    # the plain net does not degrade: depth is no challenge at this budget
    v = hg.verdict(evidence(plain_deep=(0.001, 0.002, 0.0, 0.001, 0.0, 0.002)))
    assert v.verdict == INCONCLUSIVE and "degrade" in v.reason
    # the residual net misses 1% on one seed only: its interval straddles the margin
    assert hg.verdict(evidence(res_deep=(0.0, 0.03, 0.0, 0.0, 0.0, 0.0))).verdict == INCONCLUSIVE
    assert hg.verdict(evidence(res_deep=(0.0, math.nan, 0.0, 0.0, 0.0, 0.0))).verdict == INCONCLUSIVE
    numbers, figs = hg.present(evidence())
    assert len(numbers["rows"]) == 8 and len(figs) == 2  # 3 plain, 3 residual, 2 highway depths
    assert numbers["rows"][-1][3:] == pytest.approx([0.3, 0.7, 0.0])
    assert [s["x"] for s in figs[0]["panels"][0]["series"]] == [[8, 20, 56], [8, 20, 56], [8, 56]]


def test_replication_halves_disagree():
    # the deepest residual net ends at 1.2% on one seed of the second half: the six together lie below 1%, that
    # half's interval straddles it
    j = judge(hg.verdict, evidence(res_deep=(0.0, 0.001, 0.0, 0.0, 0.012, 0.0)), SEEDS)
    assert j["verdict"].verdict == SUPPORTED
    assert [h["verdict"] for h in j["replication"]["halves"]] == [SUPPORTED, INCONCLUSIVE]
    assert j["replication"]["replicated"] is False
    assert judge(hg.verdict, evidence(), SEEDS)["replication"]["replicated"] is True


def test_closed_gates_are_identity_wires():
    """gate_bias -> -inf: every gate is T = 0, measured as such, and every gated block carries its input."""
    torch.manual_seed(0)
    net = create_model("highway20", num_classes=10, in_channels=1, input_size=(8, 8), gate_bias=-1e4)
    x = torch.rand(16, 1, 8, 8)
    stats = hg.gate_stats(net, x)
    assert len(stats) == 7 and all(s["mean"] == 0.0 and s["std"] == 0.0 for s in stats)  # 9 blocks, 2 transitions
    net.train()
    inter = net.forward_intermediates(x)
    names = list(inter)
    for s in stats:
        assert torch.equal(inter[names[s["index"] + 1]], inter[names[s["index"]]])
    open_net = create_model("highway20", num_classes=10, in_channels=1, input_size=(8, 8), gate_bias=1e4)
    assert all(s["mean"] == 1.0 for s in hg.gate_stats(open_net, x))


def test_plain_and_residual_runs_are_the_ladders():
    ctx = Context(scale="quick")
    keys = {s.key for s in hg.runs(ctx)}
    assert spec(ctx, "plain", 56, 2).key in keys and spec(ctx, "resnet", 8, 0).key in keys
    # highway twins at the shallowest and deepest ladder depths only (the middle one is cut for the budget)
    assert hg.highway_depths(ctx) == [8, 56]
    assert spec(ctx, "highway", 8, 5).key in keys and spec(ctx, "highway", 20, 0).key not in keys
    assert len(hg.runs(ctx)) == (3 + 3 + 2) * ctx.seeds
