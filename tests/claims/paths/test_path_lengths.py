"""path-lengths: 2^n paths with binomial lengths counted in net.graph() exactly, every path passing all n additions;
a known answer for the gate probe; the verdict's three outcomes on synthetic evidence of 6 seeds and its
replication on seed halves (no training)."""

import math

import pytest
import torch

from skiplab.claims import CLAIMS
from skiplab.claims.paths import path_lengths as pl
from skiplab.probes.paths import (binomial_range, count_paths, effective_range, enumerate_paths, gradient_by_length,
                                   graph_distances)
from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED
from skiplab.claims.core.stats import judge
from skiplab.models import calibrate_batchnorm, create_model, list_models


@pytest.mark.parametrize("n", [1, 2, 5, 9])
def test_paths_are_2_to_the_n_with_binomial_lengths(n):
    g = create_model("resmlp", depth=n).graph()
    e = enumerate_paths(g)
    assert e["paths"] == 2 ** n
    assert e["by_branches"] == {k: math.comb(n, k) for k in range(n + 1)}
    assert e["by_additions"] == {n: 2 ** n}  # the story's length: every path passes all n additions
    assert count_paths(g) == e["by_branches"]


def test_conv_resnet_counts_including_downsampling_blocks():
    net = create_model("resnet56")  # 27 blocks over 3 stages; downsampling blocks have a branch and a shortcut too
    assert count_paths(net.graph()) == {k: math.comb(27, k) for k in range(28)}
    assert enumerate_paths(create_model("resnet20").graph())["paths"] == 2 ** 9


def test_binomial_range_and_effective_range():
    assert binomial_range(54) in ((19, 35), (20, 34))  # Veit et al.: 95% of 54-block paths between 19 and 35
    flat = effective_range(10, [1.0] * 11, 0.9)
    assert flat["mean"] == pytest.approx(5.0)
    # per-path gradient halving with each branch: total ~ C(n,k) 2^-k, a binomial with p = 1/3
    decay = effective_range(30, [0.5 ** k for k in range(31)], 0.9)
    assert decay["mean"] == pytest.approx(10.0) and decay["high"] < 15


def test_gate_probe_known_answer_on_zero_init_net():
    # zero-init branches output 0 with a zero Jacobian: only the all-skip path (k = 0) carries gradient
    torch.manual_seed(0)
    net = create_model("preresnet20", num_classes=10, in_channels=1, zero_init=True)
    calibrate_batchnorm(net, torch.rand(64, 1, 8, 8))
    x, y = torch.rand(8, 1, 8, 8), torch.randint(0, 10, (8,))
    r = gradient_by_length(net, x, y, samples=2, seed=0)
    assert r["n"] == 9 and r["per_path"][0] > 0 and all(v == 0 for v in r["per_path"][1:])
    assert all(p.requires_grad for p in net.parameters())  # flags restored
    rng = effective_range(9, r["per_path"])
    assert rng["low"] == rng["high"] == 0


def test_graph_distances_resnet_vs_densenet():
    d = graph_distances(create_model("resnet20").graph())
    # branch_i -> add_i -> skip edges through add_(j-1) -> branch_j is j - i + 1 edges: 3 across a 3-block stage;
    # branch_0 -> 9 additions -> head -> output is 11
    assert d["layers"] == 9 and d["within"]["max"] == 3 and d["to_output"]["max"] == 11
    if "densenet40" in list_models():  # dense connectivity: every layer feeds every later layer's input
        assert graph_distances(create_model("densenet40").graph())["within"]["max"] <= 2


def evidence(highs, means, n=27, ok=True, error=0.02):
    nets = [{"low": 2, "high": h, "mean": m, "error": error, "per_path": [1.0] * (n + 1),
             "weights": [1 / (n + 1)] * (n + 1), "n": n} for h, m in zip(highs, means)]
    return {"depth": 56, "n": n, "seeds": list(range(len(nets))), "nets": nets, "mass": 0.9,
            "path_counts": [math.comb(n, k) for k in range(n + 1)], "binomial_95": [8, 19],
            "verification": {"ok": ok}, "graphs": {"resnet56": graph_distances(create_model("resnet20").graph()),
                                                   "densenet40": "not available"}}


SHORT_H, SHORT_M = [9, 8, 10, 9, 8, 9], [5, 5, 6, 5, 5.5, 6]  # n = 27: upper end ~9 of a mean length 13.5


def test_all_outcomes():
    v = pl.verdict(evidence(SHORT_H, SHORT_M))
    assert v.verdict == SUPPORTED and "6 seeds" in v.reason
    assert pl.verdict(evidence(SHORT_H, SHORT_M, ok=False)).verdict == NOT_SUPPORTED
    assert pl.verdict(evidence([20, 19, 21, 20, 20, 19], [14, 14.5, 15, 14.5, 14, 15])).verdict == NOT_SUPPORTED
    # seeds disagree: the upper end's interval spans n/2 = 13.5
    assert pl.verdict(evidence([9, 19, 10, 19, 9, 18], [5, 12, 6, 12, 5, 11])).verdict == INCONCLUSIVE
    # between the thresholds: the range ends past n/2, but the mean length is below it
    assert pl.verdict(evidence([16] * 6, [10] * 6)).verdict == INCONCLUSIVE
    v = pl.verdict(evidence(SHORT_H, SHORT_M, error=0.5))
    assert v.verdict == INCONCLUSIVE and "precondition" in v.reason


def test_replication_halves_disagree():
    # one seed of the second half ends its range at 13 (just below n/2): all six clear the margin, that half not
    j = judge(pl.verdict, evidence([9, 9, 9, 9, 13, 9], SHORT_M), 6)
    assert j["verdict"].verdict == SUPPORTED
    assert [h["verdict"] for h in j["replication"]["halves"]] == [SUPPORTED, INCONCLUSIVE]
    assert j["replication"]["replicated"] is False
    assert judge(pl.verdict, evidence(SHORT_H, SHORT_M), 6)["replication"]["replicated"] is True


def test_registered_and_presented():
    assert CLAIMS["path-lengths"] is pl
    numbers, figs = pl.present(evidence(SHORT_H, SHORT_M))
    assert all(len(r) == 2 for r in numbers["rows"])
    assert any(r[1] == "not available" for r in numbers["rows"])
    for p in figs[0]["panels"]:
        for s in p["series"]:
            assert len(s["x"]) == len(s["y"])
