"""robustness: the verdict driven to all three outcomes on synthetic evidence (each part and the combination), the
matching rule and the budgets' matching on known cases, and the strong curve never above the cheap attacks'."""

import math

import pytest
import torch
from skiplab.claims.adversarial import robustness as R
from skiplab.claims.adversarial.robustness import measurement as RM, rule as RR
from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Context
from skiplab.claims.core.stats import judge


SEEDS, TEST = 6, 450  # digits' 450 held-out test examples: every accuracy is a rate on them


def entry(robust, clean=0.95):
    """A measured net whose robust accuracy is `robust` at every nonzero epsilon of both norms."""
    curve = lambda: {"eps": [0.0, 0.1, 0.2], "accuracy": [clean, robust, robust], "examples": TEST,  # noqa: E731
                     "weak": [clean, robust + 0.01, robust + 0.01]}
    return {"clean": clean, "linf": curve(), "l2": curve(), "bound": 10.0, "lower": 1.0, "certified": [clean, 0.1, 0]}


def evidence(res, plain, vgg, spread=0.004, small=(0.6, 0.80), large=(0.4, 0.95), bspread=0.004):
    """Per-seed robust accuracies of the three nets (a number: the same on every seed); the budget runs given as
    (R_L2 at the matched snapshot, clean accuracy after equal training) at the smallest and largest c (numbers, or
    per-seed lists), their matched clean accuracies 0.8 and 0.8 + bspread."""
    seeds = range(SEEDS)
    per = lambda v, s: v[s] if isinstance(v, list) else v  # noqa: E731
    match = [{"seed": s, "target": 0.95, "chosen": {"resnet": {"acc": 0.95}, "plain": {"acc": 0.95 + spread},
                                                    "vgg": {"acc": 0.95}}} for s in seeds]
    budget_match = [{"seed": s, "target": 0.8, "chosen": {"0.5": {"acc": 0.8}, "2": {"acc": 0.8 + bspread}},
                     "equal": {"0.5": {"step": 100, "acc": per(small[1], s)},
                               "2": {"step": 100, "acc": per(large[1], s)}}} for s in seeds]
    budget = {"0.5": [entry(per(small[0], s), 0.8) for s in seeds],
              "2": [entry(per(large[0], s), 0.8 + bspread) for s in seeds]}
    return {"seeds": list(seeds), "examples": TEST, "match": match, "budgets": [0.5, 2.0], "budget_runs": budget,
            "budget_match": budget_match,
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
    # R_L2 60% vs 40% at matched clean accuracy (G = +20 points, margin 2 SE of two rates near 50% on 450 examples:
    # 6.5 points), and 15 points lower clean accuracy after equal training: a trade-off
    v, why = RR._part2(evidence(*GOOD))
    assert v == SUPPORTED and "G = R_L2(c = 0.5) - R_L2(c = 2)" in why and "after equal training" in why
    assert RR._part2(evidence(*GOOD, small=(0.3, 0.8)))[0] == NOT_SUPPORTED  # less robust when tight: G = -10
    assert RR._part2(evidence(*GOOD, small=(0.6, 0.95)))[0] == INCONCLUSIVE  # robust for free: D = 0, no cost
    # G = +7 points lies within noise of its 6.5-point margin: the interval straddles it
    assert RR._part2(evidence(*GOOD, small=(0.47, 0.8)))[0] == INCONCLUSIVE
    v, why = RR._part2(evidence(*GOOD, bspread=0.02))  # matched snapshots 2 points apart: no match
    assert v == INCONCLUSIVE and "precondition" in why
    nan = evidence(*GOOD)
    nan["budget_match"][3]["equal"]["2"]["acc"] = math.nan
    assert RR._part2(nan)[0] == INCONCLUSIVE


def test_budget_matching_known_answer():
    # the loose net passes the tight one's best (0.80) on its way up and goes on to 0.97 (the tight one: its latest
    # snapshot within 0.5 point, 0.797, not its best); the tight run stopped early (a divergence) at step 15, so
    # equal training is read at step 15 for both
    snaps = {"0.5": {"steps": [0, 5, 10, 15], "acc": [0.1, 0.6, 0.8, 0.797]},
             "2": {"steps": [0, 5, 10, 15, 20], "acc": [0.1, 0.798, 0.9, 0.97, 0.97]}}
    target, idx, equal = RM.match_budgets(snaps)
    assert target == 0.8 and idx == {"0.5": 3, "2": 1} and equal == {"0.5": 3, "2": 3}
    # equal runs: both finals; none of the loose net's snapshots within 0.5 point of 0.75: the closest (0.72)
    snaps = {"0.5": {"steps": [0, 5, 10], "acc": [0.1, 0.7, 0.75]}, "2": {"steps": [0, 5, 10], "acc": [0.1, 0.72,
                                                                                                       0.85]}}
    assert RM.match_budgets(snaps) == (0.75, {"0.5": 2, "2": 1}, {"0.5": 2, "2": 2})


def test_strong_curve_never_above_the_cheap_attacks():
    # a small MLP trained a few steps on four noisy classes of 64-pixel images in [0, 1]: the strong curve of
    # attack_job (clean point put in front) at or below the cheap attacks' worst-of curve (2-step PGDs, same seed) at
    # every epsilon, that at or below each cheap attack's own rate ("weak"), and strictly below somewhere
    from skiplab.attacks import robust_curve, standard_attacks
    g = torch.Generator().manual_seed(0)
    y = torch.arange(120) % 4
    x = (0.5 + 0.2 * torch.randn(120, 64, generator=g) + 0.2 * torch.repeat_interleave(
        torch.nn.functional.one_hot(y, 4), 16, 1)).clamp(0, 1)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.Tanh(), torch.nn.Linear(32, 4))
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    for _ in range(30):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    net.eval()
    job = {"l2_eps": [0.0, 0.25, 0.5, 1.0], "steps": 2, "restarts": 1, "seed": 0, "strong_steps": 5,
           "strong_restarts": 1, "apgd_steps": 10, "targets": 2}
    strong = RM._curve(net, x, y, job, "l2", (0.0, 1.0))
    weak = robust_curve(net, x, y, job["l2_eps"], standard_attacks("l2", 2, 1), (0.0, 1.0), seed=0)
    assert strong["eps"] == weak["eps"] and strong["accuracy"][0] == strong["clean"] == weak["accuracy"][0]
    assert strong["clean"] > 0.6  # trained
    assert all(s <= w + 1e-9 <= c + 2e-9 for s, w, c in zip(strong["accuracy"], weak["accuracy"], strong["weak"]))
    assert any(s < w - 0.01 for s, w in zip(strong["accuracy"], weak["accuracy"]))  # (0.30 vs 0.33 at eps 0.5)


def test_combined_verdict():
    good = R.verdict(evidence(*GOOD))
    assert good.verdict == SUPPORTED and "R(ResNet) - R(plain)" in good.reason and "R_L2" in good.reason
    assert R.verdict(evidence(0.7, 0.75, 0.45)).verdict == NOT_SUPPORTED
    assert R.verdict(evidence(*GOOD, small=(0.3, 0.8))).verdict == NOT_SUPPORTED  # part 2 alone
    assert R.verdict(evidence(*GOOD, small=(0.6, 0.95))).verdict == INCONCLUSIVE
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
    for m in ev["budget_match"]:
        for c in m["chosen"].values():
            c.update(step=10, steps=[0, 10, 20], curve=[0.1, c["acc"], 0.9])
    for runs in ev["budget_runs"].values():
        for e in runs:
            del e["linf"]
    numbers, figures = R.present(ev)
    rows, col = {r[0]: r for r in numbers["rows"]}, numbers["columns"].index
    tight = rows["Lipschitz budget c = 0.5"]
    assert tight[col("mean robust acc. L-inf")]["mean"] is None
    assert tight[col("mean robust acc. L2")]["mean"] == pytest.approx(0.6)
    assert tight[col("L2, cheap attacks alone")]["mean"] == pytest.approx(0.61)
    assert tight[col("certified acc. L2")]["mean"] == pytest.approx(0.05)  # (0.1 + 0) / 2 over the nonzero eps
    assert tight[col("clean acc. after equal training")]["mean"] == pytest.approx(0.8)
    assert rows["ResNet"][col("mean robust acc. L-inf")]["mean"] == pytest.approx(0.7)
    assert rows["ResNet"][col("certified acc. L2")] == pytest.approx(0.05)
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
    with pytest.raises(Exception, match="two values"):  # part 2 compares a tight and a loose budget
        RM.scale_config(Context(overrides=("budgets=[0.5,1.0,2.0]",)))
