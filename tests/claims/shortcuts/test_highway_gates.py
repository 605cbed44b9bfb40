"""highway-gates: the verdict on synthetic evidence (all three outcomes) and gate statistics of known nets."""

import math

import pytest
import torch

from skiplab.claims.shortcuts import highway_gates as hg
from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Context
from skiplab.claims.depth.ladder import spec
from skiplab.models import create_model


def evidence(res_deep=(0.0, 0.001, 0.002), plain_deep=(0.6, 0.65, 0.7), hw_deep=(0.01, 0.02, 0.0),
             plain_shallow=(0.0, 0.0, 0.0)):
    e = {f"{f}-{d}": [0.0] * 3 for f in hg.FAMILIES for d in (8, 20, 56)}
    e.update({"resnet-56": list(res_deep), "plain-56": list(plain_deep), "highway-56": list(hw_deep),
              "plain-8": list(plain_shallow)})
    stat = {"block": "stages.0.blocks.0", "index": 0, "mean": 0.3, "std": 0.1, "q10": 0.2, "q90": 0.4}
    gates = {str(d): [{"init": [stat], "trained": [dict(stat, mean=0.7)]}] * 3 for d in (8, 20, 56)}
    return {"depths": [8, 20, 56], "seeds": [0, 1, 2], "errors": e, "gates": gates}


def test_all_outcomes():
    assert hg.verdict(evidence()).verdict == SUPPORTED
    # the residual net misses 1% at depth on every seed
    assert hg.verdict(evidence(res_deep=(0.05, 0.03, 0.2))).verdict == NOT_SUPPORTED
    # the highway net is worse than plain on every seed
    assert hg.verdict(evidence(hw_deep=(0.8, 0.9, 0.85))).verdict == NOT_SUPPORTED
    # the plain net does not degrade: depth is no challenge at this budget
    v = hg.verdict(evidence(plain_deep=(0.001, 0.002, 0.0)))
    assert v.verdict == INCONCLUSIVE and "degrade" in v.reason
    # the residual net misses 1% on one seed only
    assert hg.verdict(evidence(res_deep=(0.0, 0.03, 0.0))).verdict == INCONCLUSIVE
    assert hg.verdict(evidence(res_deep=(0.0, math.nan, 0.0))).verdict == INCONCLUSIVE
    numbers, figs = hg.present(evidence())
    assert len(numbers["rows"]) == 9 and len(figs) == 2
    assert numbers["rows"][-1][3:] == pytest.approx([0.3, 0.7, 0.0])


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
    assert ({s.run.model.name for s in hg.runs(ctx) if s.run.model.name.startswith("highway")}
            == {"highway20", "highway56"})
