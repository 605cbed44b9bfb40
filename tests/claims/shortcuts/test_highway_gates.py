"""highway-gates: the verdict on synthetic evidence of 6 seeds (all three outcomes of each part and of their
combination, and replication on seed halves), known answers of the gate measurement, and the runs it declares."""

import math

import pytest
import torch

from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Context
from skiplab.claims.core.stats import judge
from skiplab.claims.depth.ladder import spec
from skiplab.claims.shortcuts import highway_gates as hg
from skiplab.claims.shortcuts.highway_gates import measurement as hm
from skiplab.claims.shortcuts.highway_gates import rule as hr
from skiplab.models import create_model
from skiplab.train.experiment import build_model

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny nets: a second OpenMP thread only contends

SEEDS = 6
RES_OK = (0.0, 0.001, 0.002, 0.001, 0.0, 0.001)
PLAIN_DEEP = (0.6, 0.65, 0.7, 0.62, 0.68, 0.66)
HW_OK = (0.01, 0.02, 0.0, 0.01, 0.015, 0.005)
JITTER = (0.0, 0.02, -0.01, 0.03, -0.02, 0.01)
BLOCKS = 7  # gated blocks of highway-20


def sig(z):
    return 1 / (1 + math.exp(-z))


def net_gates(z_init, z_trained):
    """One net's gate statistics with every block's mean T = sigmoid(z)."""
    def stats(z):
        return [{"block": f"b{i}", "index": i, "mean": sig(z), "std": 0.1, "example_std": 0.05, "q10": 0.0,
                 "q90": 1.0} for i in range(BLOCKS)]
    return {"init": stats(z_init), "trained": stats(z_trained)}


def evidence(res_deep=RES_OK, plain_deep=PLAIN_DEEP, hw_deep=HW_OK, plain_shallow=(0.0,) * SEEDS,
             trained=lambda b, s: -0.5 + JITTER[s], hw20_err=None):
    """Trainability as the keyword arguments say; gates at depth 20 start at z = b and end at trained(b, seed)."""
    e = {f"{f}-{d}": [0.0] * SEEDS for f in ("plain", "resnet") for d in (8, 20, 56)}
    e.update({"resnet-56": list(res_deep), "plain-56": list(plain_deep), "plain-8": list(plain_shallow),
              "highway-56 b-2": list(hw_deep)})
    gates = {"56/b-2": [net_gates(-2.0, -2.0) for _ in range(SEEDS)]}
    for b in hr.BIASES:
        e[f"highway-20 b{b:g}"] = list(hw20_err or [0.0] * SEEDS) if b == -1 else [0.0] * SEEDS
        gates[f"20/b{b:g}"] = [net_gates(b, trained(b, s)) for s in range(SEEDS)]
    return {"depths": [8, 20, 56], "highway": [[20, -1.0], [20, -2.0], [56, -2.0], [20, -3.0]], "gate_depth": 20,
            "gate_biases": list(hr.BIASES), "seeds": list(range(SEEDS)), "train_examples": 1347, "errors": e,
            "gates": gates}


STAY = {"trained": lambda b, s: b + 0.01 * JITTER[s]}  # the gates keep their init
FOLLOW = {"trained": lambda b, s: b + 1.0 + JITTER[s]}  # they all move by 1 nat, keeping the init's spread
# they move by 1 nat on average, keeping a share c of the inits' spread: c = 0.5 +- 0.2 over seeds straddles 0.5
STRADDLE = {"trained": lambda b, s: -1.0 + (b + 2) * (0.2, 0.8, 0.3, 0.7, 0.4, 0.6)[s]}


def test_gate_part_outcomes():
    assert hr.gates(evidence()).verdict == SUPPORTED
    v = hr.gates(evidence(**STAY))
    assert v.verdict == NOT_SUPPORTED and "stay" in v.reason
    v = hr.gates(evidence(**FOLLOW))
    assert v.verdict == NOT_SUPPORTED and "follows the bias init" in v.reason
    assert hr.gates(evidence(**STRADDLE)).verdict == INCONCLUSIVE
    # a highway-20 net that did not train: its gates are not a trained net's
    v = hr.gates(evidence(hw20_err=(0.2, 0.3, 0.25, 0.2, 0.3, 0.25)))
    assert v.verdict == INCONCLUSIVE and "precondition" in v.reason
    assert hr.gates(evidence(hw20_err=(0.0, math.nan, 0.0, 0.0, 0.0, 0.0))).verdict == INCONCLUSIVE


def test_effects_known_on_synthetic_gates():
    moved, removed = hr.gate_effects(evidence())
    # from z = -1, -2, -3 to -0.5 (+ jitter): |dz| = 0.5, 1.5, 2.5; the inits' 2-nat spread is gone
    assert moved == pytest.approx([1.5 + j for j in JITTER], abs=1e-9)
    assert removed == pytest.approx([1.0] * SEEDS, abs=1e-9)
    moved, removed = hr.gate_effects(evidence(**FOLLOW))
    assert moved == pytest.approx([1.0 + j for j in JITTER], abs=1e-9) and removed == pytest.approx([0.0] * SEEDS)


def test_trainability_outcomes_and_combination():
    v = hg.verdict(evidence())
    assert v.verdict == SUPPORTED and "6 seeds" in v.reason
    # the residual net misses 1% at depth; the highway net is worse than plain
    assert hg.verdict(evidence(res_deep=(0.05, 0.03, 0.08, 0.04, 0.06, 0.05))).verdict == NOT_SUPPORTED
    assert hg.verdict(evidence(hw_deep=(0.8, 0.9, 0.85, 0.82, 0.88, 0.86))).verdict == NOT_SUPPORTED
    # the plain net does not degrade: depth is no challenge at this budget
    flat = {"plain_deep": (0.001, 0.002, 0.0, 0.001, 0.0, 0.002)}
    assert hr.trainability(evidence(**flat)).verdict == INCONCLUSIVE
    v = hg.verdict(evidence(**flat))
    assert v.verdict == INCONCLUSIVE and "degrade" in v.reason
    # the residual net misses 1% on one seed only: its interval straddles the margin
    assert hg.verdict(evidence(res_deep=(0.0, 0.03, 0.0, 0.0, 0.0, 0.0))).verdict == INCONCLUSIVE
    assert hg.verdict(evidence(res_deep=(0.0, math.nan, 0.0, 0.0, 0.0, 0.0))).verdict == INCONCLUSIVE
    # either part not supported makes the claim not supported, even when the other is inconclusive
    assert hg.verdict(evidence(**STAY)).verdict == NOT_SUPPORTED
    assert hg.verdict(evidence(**flat, **STAY)).verdict == NOT_SUPPORTED
    v = hg.verdict(evidence(**STRADDLE))
    assert v.verdict == INCONCLUSIVE and "trainability supported" in v.reason and "gates inconclusive" in v.reason


def test_replication_halves_disagree():
    # the deepest residual net ends at 1.2% on one seed of the second half: the six together lie below 1%, that
    # half's interval straddles it
    j = judge(hg.verdict, evidence(res_deep=(0.0, 0.001, 0.0, 0.0, 0.012, 0.0)), SEEDS)
    assert j["verdict"].verdict == SUPPORTED
    assert [h["verdict"] for h in j["replication"]["halves"]] == [SUPPORTED, INCONCLUSIVE]
    assert j["replication"]["replicated"] is False
    # the gates move a lot in the first half only: the second half's gates stay
    j = judge(hg.verdict, evidence(trained=lambda b, s: -0.5 + JITTER[s] if s < 3 else b + 0.01 * JITTER[s]),
              SEEDS)
    assert [h["verdict"] for h in j["replication"]["halves"]] == [SUPPORTED, NOT_SUPPORTED]
    assert judge(hg.verdict, evidence(), SEEDS)["replication"]["replicated"] is True


def test_present():
    numbers, figs = hg.present(evidence())
    assert len(numbers["rows"]) == 6 + 4 and len(figs) == 2  # 3 plain, 3 residual, 4 highway nets
    assert [r[:3] for r in numbers["rows"][6:]] == [["highway", 20, -2.0], ["highway", 56, -2.0],
                                                    ["highway", 20, -1.0], ["highway", 20, -3.0]]
    row = numbers["rows"][8]  # highway-20 from b = -1 to z = -0.5 (+ jitter averaging 0.005)
    assert row[4:7] == pytest.approx([sig(-1), sum(sig(-0.5 + j) for j in JITTER) / SEEDS, 0.505])
    assert [s["x"] for s in figs[0]["panels"][0]["series"]] == [[8, 20, 56], [8, 20, 56], [20, 56]]
    p20 = figs[1]["panels"][0]
    assert p20["title"] == "highway-20" and len(p20["series"]) == 6  # three inits, at init and trained
    assert figs[1]["panels"][1]["series"][0]["y"] == pytest.approx([sig(-2)] * BLOCKS)


@pytest.mark.parametrize("b", [-1.0, -2.0, -3.0, 0.7])
def test_gate_with_zero_weights_is_sigmoid_of_its_bias(b):
    """Known answer: with zero gate weights T(x) = sigmoid(b) for every input, example and position."""
    torch.manual_seed(0)
    net = create_model("highway20", num_classes=10, in_channels=1, input_size=(8, 8), gate_bias=b)
    with torch.no_grad():
        for _, block in net.blocks():
            if block.kind == "gated":
                block.gate_layer.weight.zero_()
    stats = hm.gate_stats(net, torch.rand(16, 1, 8, 8))
    expect = float(torch.sigmoid(torch.tensor(b, dtype=torch.float32)))
    assert len(stats) == 7 and all(s["mean"] == expect and s["std"] == 0.0 and s["example_std"] == 0.0
                                   and s["q10"] == s["q90"] == expect for s in stats)
    assert expect == pytest.approx(sig(b), abs=1e-7)


def test_movement_and_imprint_known_answers():
    """Zero-weight gates at known biases: |dz| is the bias change, the imprint removed is 1 - R_trained / R_init."""
    torch.manual_seed(0)
    x = torch.rand(8, 1, 8, 8)

    def read(b):
        net = create_model("highway20", num_classes=10, in_channels=1, input_size=(8, 8), gate_bias=b)
        with torch.no_grad():
            for _, block in net.blocks():
                if block.kind == "gated":
                    block.gate_layer.weight.zero_()
        return hm.gate_stats(net, x)

    assert hr.movement({"init": read(-2.0), "trained": read(-0.5)}) == pytest.approx(1.5, abs=1e-5)
    inits = [read(b) for b in (-1.0, -2.0, -3.0)]
    same = [{"init": i, "trained": read(-1.5)} for i in inits]
    assert hr.imprint_removed(same) == pytest.approx(1.0, abs=1e-9)
    kept = [{"init": i, "trained": i} for i in inits]
    assert hr.imprint_removed(kept) == 0.0
    half = [{"init": i, "trained": read(t)} for i, t in zip(inits, (-1.0, -1.5, -2.0))]
    assert hr.imprint_removed(half) == pytest.approx(0.5, abs=1e-5)


def test_closed_gates_are_identity_wires():
    """gate_bias -> -inf: every gate is T = 0, measured as such, and every gated block carries its input."""
    torch.manual_seed(0)
    net = create_model("highway20", num_classes=10, in_channels=1, input_size=(8, 8), gate_bias=-1e4)
    x = torch.rand(16, 1, 8, 8)
    stats = hm.gate_stats(net, x)
    assert len(stats) == 7 and all(s["mean"] == 0.0 and s["std"] == 0.0 for s in stats)  # 9 blocks, 2 transitions
    net.train()
    inter = net.block_outputs(x)
    names = list(inter)
    for s in stats:
        assert torch.equal(inter[names[s["index"] + 1]], inter[names[s["index"]]])
    open_net = create_model("highway20", num_classes=10, in_channels=1, input_size=(8, 8), gate_bias=1e4)
    assert all(s["mean"] == 1.0 for s in hm.gate_stats(open_net, x))
    assert hr.logit(0.0) == pytest.approx(math.log(1e-6 / (1 - 1e-6)))  # clipped, finite


def test_runs_reuse_the_ladder_and_inits_differ_only_in_the_bias():
    ctx = Context(scale="quick")
    keys = {s.key for s in hg.runs(ctx)}
    assert spec(ctx, "plain", 56, 2).key in keys and spec(ctx, "resnet", 8, 0).key in keys
    # the default-bias highway twins are the ladder's specs (no override), so their hashes and runs are unchanged
    assert hm.highway_spec(ctx, 56, -2.0, 3).key == spec(ctx, "highway", 56, 3).key
    assert spec(ctx, "highway", 20, 0).key in keys and spec(ctx, "highway", 8, 0).key not in keys
    assert hm.highway_depths(ctx) == {-1.0: [20], -2.0: [20, 56], -3.0: [20]}
    assert hm.highway_spec(ctx, 20, -1.0, 0).key in keys and hm.highway_spec(ctx, 56, -1.0, 0).key not in keys
    assert len(hg.runs(ctx)) == (3 + 3 + 4) * ctx.seeds
    full = Context(scale="full")
    assert hm.highway_depths(full) == {-1.0: [56], -2.0: [20, 56, 110], -3.0: [56]}
    # the extra inits' full configs resolve (the probed default-bias twins are smoked in tests/claims/core)
    cfg = hm.highway_spec(full, 56, -3.0, 0)
    assert (cfg.run.model.resolve().gate_bias, cfg.run.model.resolve().depth, cfg.run.train.epochs) == (-3.0, 56, 164)
    assert cfg.probes is None and hm.highway_spec(full, 56, -2.0, 0).key == spec(full, "highway", 56, 0).key
    # a seed's nets under two inits are the same at init but for the gate biases
    nets = {b: build_model(sp.run, sp.dataset()) for b in (-1.0, -2.0)
            for sp in [hm.highway_spec(ctx, 20, b, 1)]}
    p1, p2 = dict(nets[-1.0].named_parameters()), dict(nets[-2.0].named_parameters())
    gate_biases = [k for k in p1 if k.endswith("gate_layer.bias")]
    assert len(gate_biases) == BLOCKS
    for k, w in p1.items():
        if k in gate_biases:
            assert torch.all(w == -1.0) and torch.all(p2[k] == -2.0)
        else:
            assert torch.equal(w, p2[k]), k
