"""robustness: the verdict driven to all three outcomes on synthetic evidence (each part and the combination), and
the matching rule on a known case."""

import math

import pytest
from skiplab.claims.adversarial import robustness as R
from skiplab.claims.adversarial.robustness import measurement as RM, rule as RR
from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Context


def entry(robust, clean=0.95):
    """A measured net whose robust accuracy is `robust` at every nonzero epsilon of both norms."""
    curve = lambda: {"eps": [0.0, 0.1, 0.2], "accuracy": [clean, robust, robust]}  # noqa: E731
    return {"clean": clean, "linf": curve(), "l2": curve(), "bound": 10.0, "lower": 1.0, "certified": [clean, 0, 0]}


def evidence(res, plain, vgg, spread=0.004, small=(0.80, 0.6), large=(0.95, 0.4)):
    """Per-seed robust accuracies of the three nets; budget runs given as (clean, robust) at the smallest and
    largest c (same on every seed unless lists are passed)."""
    seeds = range(len(res))
    match = [{"seed": s, "target": 0.95, "chosen": {"resnet": {"acc": 0.95}, "plain": {"acc": 0.95 + spread},
                                                    "vgg": {"acc": 0.95}}} for s in seeds]
    per = lambda v, s: v[s] if isinstance(v, list) else v  # noqa: E731
    budget = {"0.5": [entry(per(small[1], s), per(small[0], s)) for s in seeds],
              "2": [entry(per(large[1], s), per(large[0], s)) for s in seeds]}
    return {"seeds": list(seeds), "match": match, "budgets": [0.5, 2.0], "budget_runs": budget,
            "curves": {"resnet": [entry(v) for v in res], "plain": [entry(v) for v in plain],
                       "vgg": [entry(v) for v in vgg]}}


def test_part1_all_outcomes():
    assert RR._part1(evidence([0.5] * 3, [0.4] * 3, [0.45] * 3))[0] == SUPPORTED
    assert RR._part1(evidence([0.5] * 3, [0.4] * 3, [0.55, 0.6, 0.5]))[0] == NOT_SUPPORTED  # VGG at least as robust
    assert RR._part1(evidence([0.5] * 3, [0.4, 0.49, 0.4], [0.45] * 3))[0] == INCONCLUSIVE  # seeds disagree
    v, why = RR._part1(evidence([0.5] * 3, [0.4] * 3, [0.45] * 3, spread=0.02))  # clean accuracies 2 points apart
    assert v == INCONCLUSIVE and "precondition" in why


def test_part2_all_outcomes():
    base = ([0.5] * 3, [0.4] * 3, [0.45] * 3)
    # share 0.6 / 0.8 = 0.75 vs 0.4 / 0.95 = 0.42, clean lower by 15 points: a trade-off
    assert RR._part2(evidence(*base))[0] == SUPPORTED
    assert RR._part2(evidence(*base, small=(0.80, 0.32)))[0] == NOT_SUPPORTED  # share 0.40 < 0.42: no gain
    assert RR._part2(evidence(*base, small=(0.95, 0.6)))[0] == INCONCLUSIVE  # robust for free: no clear cost
    assert RR._part2(evidence(*base, small=(0.8, [0.6, 0.33, 0.6])))[0] == INCONCLUSIVE  # seeds disagree


def test_combined_verdict():
    good = ([0.5] * 3, [0.4] * 3, [0.45] * 3)
    assert R.verdict(evidence(*good)).verdict == SUPPORTED
    assert R.verdict(evidence([0.5] * 3, [0.6] * 3, [0.45] * 3)).verdict == NOT_SUPPORTED
    assert R.verdict(evidence(*good, small=(0.95, 0.6))).verdict == INCONCLUSIVE
    bad = evidence(*good)
    bad["curves"]["vgg"][0]["l2"]["accuracy"][1] = math.nan
    assert R.verdict(bad).verdict == INCONCLUSIVE


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
