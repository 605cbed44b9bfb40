"""unrolled-ensemble: the unrolled sum equals the forward pass (float64), and the verdict reaches all three outcomes
on synthetic evidence of 6 seeds, with replication on seed halves; its presentation has the schema's shape (no
training)."""

import math

import torch

from skiplab.claims import CLAIMS
from skiplab.claims.paths import unrolled_ensemble as ue
from skiplab.probes.unrolled import unrolled_check
from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED
from skiplab.claims.core.stats import judge
from skiplab.models import calibrate_batchnorm, create_model


def test_unrolled_sum_equals_forward_pass():
    torch.manual_seed(0)
    net = create_model("preresnet20", num_classes=10, in_channels=1).double()
    calibrate_batchnorm(net, torch.rand(64, 1, 8, 8, dtype=torch.float64))
    x = torch.rand(5, 1, 8, 8, dtype=torch.float64)
    r = unrolled_check(net, x)
    # three stages: 3 + 2 + 2 identity-shortcut blocks summed, 2 downsampling blocks checked as S(x) + F(x)
    assert [len(s["blocks"]) for s in r["segments"]] == [3, 2, 2] and len(r["downsampling"]) == 2
    assert r["max_rel"] < 1e-13
    # the known answer by hand for stage 0: x_3 = x_0 + F_0(x_0) + F_1(x_1) + F_2(x_2)
    inter = list(net.forward_intermediates(x).values())
    blocks = [b for _, b in net.blocks()]
    with torch.no_grad():
        total = inter[0] + sum(blocks[i].increment(inter[i]) for i in range(3))
    assert torch.allclose(total, inter[3], rtol=0, atol=1e-12)
    # post-activation blocks have no exact sum: nothing is claimed for them
    assert unrolled_check(create_model("resnet20", in_channels=1).double().eval(), x)["segments"] == []


def study(base, single_inc, k_curve, blocks=9, ds=(3, 6), plain=False):
    single = [None if (plain and i in ds) else base + single_inc for i in range(blocks)]
    return {"base": {"error": base, "loss": 0.1}, "single": {"error": single, "loss": single},
            "shape_changing": [i in ds for i in range(blocks)], "names": [f"b{i}" for i in range(blocks)],
            "swap": {"pairs": [[0, 1]], "error": [base + single_inc], "loss": [0.1]},
            "random": {"k": list(range(1, len(k_curve) + 1)), "sets": [[[0]]] * len(k_curve),
                       "error": [[v, v] for v in k_curve], "loss": [[v, v] for v in k_curve]}}


SEEDS = 6


def evidence(res_inc=0.01, plain_inc=0.8, curve=(0.03, 0.05, 0.08, 0.12), base=0.02, rel=1e-16, seeds=SEEDS):
    def net(inc, plain=False):
        per_seed = inc if isinstance(inc, list) else [inc] * seeds
        return {"family": "plain" if plain else "resnet", "depth": 20,
                "seeds": [study(base, i, curve, plain=plain) for i in per_seed]}
    return {"seeds": list(range(seeds)), "k_max": 4, "draws": 2, "examples": 450,
            "nets": {"resnet56": net(res_inc), "resnet20": net(res_inc), "plain20": net(plain_inc, plain=True)},
            "verification": {"preresnet20": {"max_rel": rel, "segments": [], "downsampling": []}}}


def test_all_outcomes():
    v = ue.verdict(evidence())
    assert v.verdict == SUPPORTED and "points" in v.reason and "6 seeds" in v.reason
    # the verification failing is a finding against the claim
    assert ue.verdict(evidence(rel=1e-3)).verdict == NOT_SUPPORTED
    # the plain twin as robust as the residual net: 1 point more, its interval below the 5-point margin
    assert ue.verdict(evidence(plain_inc=0.02)).verdict == NOT_SUPPORTED
    # residual lesions catastrophic
    assert ue.verdict(evidence(res_inc=0.3)).verdict == NOT_SUPPORTED
    # a cliff in error vs k
    assert ue.verdict(evidence(curve=(0.03, 0.5, 0.6))).verdict == INCONCLUSIVE
    # a fall of more than the noise allowance
    assert ue.verdict(evidence(curve=(0.2, 0.1, 0.3))).verdict == INCONCLUSIVE
    # seeds disagree: the residual increase's interval straddles the 5-point margin
    assert ue.verdict(evidence(res_inc=[0.01, 0.1, 0.01, 0.1, 0.01, 0.1])).verdict == INCONCLUSIVE
    v = ue.verdict(evidence(base=0.5))
    assert v.verdict == INCONCLUSIVE and "precondition" in v.reason
    assert ue.verdict(evidence(res_inc=[0.01, math.nan, 0.01, 0.01, 0.01, 0.01])).verdict == INCONCLUSIVE


def test_margin_is_raised_to_the_binomial_noise_of_the_test_set():
    # plain lesions at 82% error vs 2% intact on 450 examples: 2 SE of the difference ~3.9 points, below the
    # registered 20; the residual increase of 1 point has a held-out interval of about +-2 points (no seed spread:
    # the binomial part alone, with a normal quantile)
    v = ue.verdict(evidence())
    assert "margin 20.00;" in v.reason and "+1.00 [-1.04, +3.04]" in v.reason


def test_replication_halves_disagree():
    # the residual increase is 0.3 points on five seeds and 4 on one of the second half: that half's 3-seed interval
    # (few Welch-Satterthwaite degrees of freedom, widened by the held-out noise of 450 examples) reaches past the
    # 5-point margin, the six together do not
    j = judge(ue.verdict, evidence(res_inc=[0.003, 0.003, 0.003, 0.003, 0.04, 0.003]), SEEDS)
    assert j["verdict"].verdict == SUPPORTED
    assert [h["verdict"] for h in j["replication"]["halves"]] == [SUPPORTED, INCONCLUSIVE]
    assert j["replication"]["replicated"] is False
    assert judge(ue.verdict, evidence(res_inc=0.003), SEEDS)["replication"]["replicated"] is True


def test_smoothness_edges():
    assert ue.smooth([0.1, 0.1 - ue.DIP, 0.1 - ue.DIP + ue.JUMP - 1e-9])
    assert not ue.smooth([0.1, 0.1 + ue.JUMP])


def test_registered_and_presented():
    assert CLAIMS["unrolled-ensemble"] is ue
    numbers, figs = ue.present(evidence())
    assert all(len(r) == len(numbers["columns"]) for r in numbers["rows"])
    assert [f["id"] for f in figs] == ["unrolled-single-lesions", "unrolled-random-lesions"]
    panel = figs[0]["panels"][2]  # the plain twin: its downsampling layers cannot be deleted
    assert 3 not in panel["series"][0]["x"] and panel["series"][1]["x"] == []
    for f in figs:
        for p in f["panels"]:
            for s in p["series"]:
                assert len(s["x"]) == len(s["y"])
