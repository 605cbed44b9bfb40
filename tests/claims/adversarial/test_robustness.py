"""robustness: the verdict driven to all three outcomes on synthetic evidence (each part and the combination), and
the matching rule on a known case."""

import math

import pytest
from skiplab.claims.adversarial import robustness as R
from skiplab.claims.adversarial.robustness import measurement as RM, rule as RR
from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Context
from skiplab.claims.core.stats import judge


SEEDS, TEST = 6, 450  # digits' 450 held-out test examples: every accuracy is a rate on them


def entry(robust, clean=0.95):
    """A measured net whose robust accuracy is `robust` at every nonzero epsilon of both norms."""
    curve = lambda: {"eps": [0.0, 0.1, 0.2], "accuracy": [clean, robust, robust], "examples": TEST}  # noqa: E731
    return {"clean": clean, "linf": curve(), "l2": curve(), "bound": 10.0, "lower": 1.0, "certified": [clean, 0, 0]}


def evidence(res, plain, vgg, spread=0.004, small=(0.80, 0.6), large=(0.95, 0.4)):
    """Per-seed robust accuracies of the three nets (a number: the same on every seed); budget runs given as
    (clean, robust) at the smallest and largest c (numbers, or per-seed lists)."""
    seeds = range(SEEDS)
    per = lambda v, s: v[s] if isinstance(v, list) else v  # noqa: E731
    match = [{"seed": s, "target": 0.95, "chosen": {"resnet": {"acc": 0.95}, "plain": {"acc": 0.95 + spread},
                                                    "vgg": {"acc": 0.95}}} for s in seeds]
    budget = {"0.5": [entry(per(small[1], s), per(small[0], s)) for s in seeds],
              "2": [entry(per(large[1], s), per(large[0], s)) for s in seeds]}
    return {"seeds": list(seeds), "examples": TEST, "match": match, "budgets": [0.5, 2.0], "budget_runs": budget,
            "curves": {n: [entry(per(v, s)) for s in seeds] for n, v in (("resnet", res), ("plain", plain),
                                                                          ("vgg", vgg))}}


# R(ResNet) 70%, plain 40%, VGG 45%: differences of 30 and 25 points, whose margins are raised from 2 points to 2
# binomial SE of two rates near 50% on 450 examples (6.3 points) and whose intervals are +-8 points.
GOOD = (0.7, 0.4, 0.45)


def test_part1_all_outcomes():
    assert RR._part1(evidence(*GOOD))[0] == SUPPORTED
    v, why = RR._part1(evidence(0.7, 0.4, 0.75))  # VGG 5 points more robust: [-13, +3] lies below 6.3
    assert v == NOT_SUPPORTED and "VGG" in why and "R(ResNet) - R(VGG)" in why
    assert RR._part1(evidence(0.7, 0.6, 0.45))[0] == INCONCLUSIVE  # 10 points ahead of plain: [+1.9, +18.1]
    v, why = RR._part1(evidence(*GOOD, spread=0.02))  # clean accuracies 2 points apart
    assert v == INCONCLUSIVE and "precondition" in why


def test_part2_all_outcomes():
    # share 0.6 / 0.8 = 0.75 vs 0.4 / 0.95 = 0.42 (a rate on the 360 examples the c = 0.5 net gets right), clean
    # lower by 15 points: a trade-off
    assert RR._part2(evidence(*GOOD))[0] == SUPPORTED
    assert RR._part2(evidence(*GOOD, small=(0.80, 0.24)))[0] == NOT_SUPPORTED  # share 0.30 < 0.42: no gain
    assert RR._part2(evidence(*GOOD, small=(0.95, 0.6)))[0] == INCONCLUSIVE  # robust for free: no clear cost
    # share 0.525 vs 0.42: +10.4 points, [+0.9, +19.9] straddles its 7.4-point margin
    assert RR._part2(evidence(*GOOD, small=(0.8, 0.42)))[0] == INCONCLUSIVE


def test_combined_verdict():
    good = R.verdict(evidence(*GOOD))
    assert good.verdict == SUPPORTED and "R(ResNet) - R(plain)" in good.reason and "robust share" in good.reason
    assert R.verdict(evidence(0.7, 0.75, 0.45)).verdict == NOT_SUPPORTED
    assert R.verdict(evidence(*GOOD, small=(0.95, 0.6))).verdict == INCONCLUSIVE
    bad = evidence(*GOOD)
    bad["curves"]["vgg"][0]["l2"]["accuracy"][1] = math.nan
    assert R.verdict(bad).verdict == INCONCLUSIVE


def test_present_without_the_budget_nets_linf_curves():
    # quick scale attacks the budget nets in L2 only (budget_linf=False): their L-inf column reads n/a
    ev = evidence(*GOOD)
    ev["params"] = {}
    for m in ev["match"]:
        for c in m["chosen"].values():
            c.update(step=10, steps=[0, 10], curve=[0.1, c["acc"]])
    for runs in ev["budget_runs"].values():
        for e in runs:
            del e["linf"]
    numbers, figures = R.present(ev)
    rows = {r[0]: r for r in numbers["rows"]}
    assert rows["Lipschitz budget c = 0.5"][3]["mean"] is None
    assert rows["Lipschitz budget c = 0.5"][4]["mean"] == pytest.approx(0.6)
    assert rows["ResNet"][3]["mean"] == pytest.approx(0.7)
    assert [f["id"] for f in figures] == ["robustness-curves", "robustness-matching", "robustness-budget"]


def test_replication_halves_disagree():
    # seeds 0-2: the ResNet 30 points more robust than its plain twin; seeds 3-5: 15 points less
    j = judge(R.verdict, evidence(0.7, [0.4] * 3 + [0.85] * 3, 0.45), SEEDS)
    assert [h["verdict"] for h in j["replication"]["halves"]] == [SUPPORTED, NOT_SUPPORTED]
    assert j["replication"]["replicated"] is False


def test_matching_rule():
    acc = {"resnet": [0.1, 0.9, 0.97, 0.985, 0.976], "plain": [0.1, 0.95, 0.972, 0.97],
           "vgg": [0.1, 0.5, 0.99, 0.995]}
    target, idx = RR.choose(acc)
    assert target == 0.972  # the plain net's best
    assert idx == {"resnet": 4, "plain": 3, "vgg": 2}  # latest within 0.5 point, else the closest (vgg: 0.99)


def test_scale_refuses_a_grid_without_the_clean_point():
    # (the claim itself runs end to end in tests/cli/test_reproduce_cli.py; the budget's certificate in
    # tests/models/test_lipschitz_budget.py)
    assert RM.scale_config(Context(max_steps=2)).pgd_steps == 2
    with pytest.raises(Exception, match="start at 0"):
        RM.scale_config(Context(overrides=("linf_eps=[0.1]",)))
