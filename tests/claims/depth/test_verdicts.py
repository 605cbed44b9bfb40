"""Every verdict function driven to all three outcomes with synthetic evidence of 6 seeds (no training), and a
replication check: an effect whose seed halves disagree is not replicated."""

import math

from skiplab.claims.depth import degradation
from skiplab.claims.depth import degradation_cause
from skiplab.claims.depth import vanishing_gradients
from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED
from skiplab.claims.core.stats import judge

SEEDS = 6
N_TRAIN = 1347  # digits' training split: the full pass the train error is measured on


def deg_evidence(finals: dict[str, list[float]], depths=(8, 20, 56)):
    """finals: {"plain-8": [seed errors], ...} -> the evidence shape degradation.measure returns."""
    nets = {}
    for key, errs in finals.items():
        fam, d = key.split("-")
        nets[key] = {"family": fam, "depth": int(d),
                     "seeds": [{"seed": i, "status": "finished", "epochs": [1, 2], "train_err": [0.5, e],
                                "test_err": [0.5, e + 0.02]} for i, e in enumerate(errs)]}
    return {"depths": list(depths), "seeds": list(range(SEEDS)), "train_examples": N_TRAIN, "nets": nets}


SHALLOW = (0.002, 0.003, 0.001, 0.002, 0.003, 0.002)
RES_OK = (0.001, 0.0, 0.002, 0.001, 0.0, 0.003)


def ladder(plain_deep, res_deep=RES_OK, plain_shallow=SHALLOW, res_shallow=SHALLOW):
    return deg_evidence({"plain-8": list(plain_shallow), "plain-20": [0.01] * SEEDS, "plain-56": list(plain_deep),
                         "resnet-8": list(res_shallow), "resnet-20": [0.002] * SEEDS, "resnet-56": list(res_deep)})


DEGRADED = [0.08, 0.06, 0.09, 0.07, 0.085, 0.075]  # 6-9 points worse: far above 1 point and 2 binomial SEs


def test_degradation_all_outcomes():
    v = degradation.verdict(ladder(DEGRADED))
    assert v.verdict == SUPPORTED and "points" in v.reason
    assert degradation.verdict(ladder([0.004, 0.005, 0.003, 0.004, 0.002, 0.003])).verdict == NOT_SUPPORTED
    # one seed without degradation widens the interval across the margin
    assert degradation.verdict(ladder([0.08, 0.002, 0.09, 0.003, 0.07, 0.002])).verdict == INCONCLUSIVE
    # precondition: the deepest residual net did not reach 1% on every seed
    v = degradation.verdict(ladder(DEGRADED, res_deep=[0.001, 0.03, 0.002, 0.0, 0.001, 0.0]))
    assert v.verdict == INCONCLUSIVE and "precondition" in v.reason


def test_degradation_margin_is_raised_to_the_binomial_noise_of_the_training_split():
    # 5% vs 0.2% train error on 1347 examples: one run's binomial SE of the difference is
    # sqrt((0.05 * 0.95 + 0.002 * 0.998) / 1347) ~ 0.61 points, so the margin used is ~1.2 points, not 1
    e = degradation.plain_effect(ladder([0.05] * SEEDS, plain_shallow=[0.002] * SEEDS))
    se = math.sqrt((0.05 * 0.95 + 0.002 * 0.998) / N_TRAIN)
    assert e.examples == N_TRAIN and math.isclose(e.margin, 2 * se) and e.margin > degradation.MARGIN
    # a full pass over the training split is not a held-out sample: no binomial term widens the interval, which
    # with no seed-to-seed spread is the single point 4.8 points
    assert math.isclose(e.lo, 0.048) and math.isclose(e.hi, 0.048)


def test_degradation_replication_halves_disagree():
    # the first three seeds degrade clearly, the last three straddle: the whole is supported, the second half not
    deep = [0.09, 0.085, 0.09, 0.10, 0.01, 0.09]
    j = judge(degradation.verdict, ladder(deep), SEEDS)
    assert j["verdict"].verdict == SUPPORTED
    assert [h["verdict"] for h in j["replication"]["halves"]] == [SUPPORTED, INCONCLUSIVE]
    assert j["replication"]["replicated"] is False
    assert judge(degradation.verdict, ladder(DEGRADED), SEEDS)["replication"]["replicated"] is True


def curves(r_values):
    """per-seed gradient curves with the given trained r (epochs 1..2) and r = 0 at init."""
    return [[{"epoch": 0, "r": 0.0}, {"epoch": 1, "r": r}, {"epoch": 2, "r": r}] for r in r_values]


def cause_evidence(shallow_r, deep_r, degraded=True):
    deg = ladder(DEGRADED if degraded else [0.004, 0.005, 0.003, 0.004, 0.002, 0.003])
    c = {f"{f}-{d}": curves([0.0] * SEEDS) for f in ("plain", "resnet") for d in (8, 20, 56)}
    c["plain-8"], c["plain-56"] = curves(shallow_r), curves(deep_r)
    return {"depths": [8, 20, 56], "curves": c, "degradation": deg}


ZERO = [0.0] * SEEDS


def test_degradation_cause_all_outcomes():
    # gap = r(shallow) - r(deep), margin log 2 ~ 0.69
    assert degradation_cause.verdict(cause_evidence(ZERO, [-2, -1.5, -3, -2.5, -1.8, -2.2])).verdict == SUPPORTED
    v = degradation_cause.verdict(cause_evidence(ZERO, [0.1, -0.2, 0.3, 0.0, -0.1, 0.2]))
    assert v.verdict == NOT_SUPPORTED and "He et al." in v.reason
    assert degradation_cause.verdict(cause_evidence(ZERO, [-2, 0.1, -3, 0.2, -2.5, 0.0])).verdict == INCONCLUSIVE
    v = degradation_cause.verdict(cause_evidence(ZERO, [-2, -1.5, -3, -2.5, -1.8, -2.2], degraded=False))
    assert v.verdict == INCONCLUSIVE and "precondition" in v.reason


def test_degradation_cause_replication_halves_disagree():
    # one seed of the second half has a much smaller gap (1.2): that half's 3-seed interval reaches below log 2
    j = judge(degradation_cause.verdict, cause_evidence(ZERO, [-2, -2.1, -1.9, -2, -1.2, -2.2]), SEEDS)
    assert j["verdict"].verdict == SUPPORTED and j["replication"]["replicated"] is False


def van_evidence(plain_slopes, res_slopes, depths=(8, 20, 56), trained=None):
    """Evidence whose per-seed log(first/last) is slope * depth; `trained` = (plain, residual) slopes after
    training, the same as at init when omitted."""
    plain_t, res_t = trained or (plain_slopes, res_slopes)
    nets = {}
    for fam, slopes, after in (("plain", plain_slopes, plain_t), ("resnet", res_slopes, res_t)):
        for d in depths:
            nets[f"{fam}-{d}"] = [{"init": [1.0, 1.0], "trained": [1.0, 1.0], "r_init": s * d, "r_trained": t * d}
                                  for s, t in zip(slopes, after)]
    return {"depths": list(depths), "seeds": list(range(len(plain_slopes))), "nets": nets}


VANISH = [-0.05, -0.04, -0.06, -0.05, -0.045, -0.055]
FLAT = [0.001, -0.002, 0.0, 0.001, -0.001, 0.002]


def test_vanishing_gradients_all_outcomes():
    v = vanishing_gradients.verdict(van_evidence(VANISH, FLAT))
    assert v.verdict == SUPPORTED and "vanishes" in v.reason and "trained" in v.reason
    v = vanishing_gradients.verdict(van_evidence([-s for s in VANISH], FLAT))
    assert v.verdict == SUPPORTED and "explodes" in v.reason
    # no geometric trend in the plain net: its interval lies within +-0.02 per layer
    v = vanishing_gradients.verdict(van_evidence([0.001, -0.004, 0.002, 0.0, -0.001, 0.003], ZERO))
    assert v.verdict == NOT_SUPPORTED and "no geometric trend" in v.reason
    # the residual slope is as steep as the plain one
    v = vanishing_gradients.verdict(van_evidence([-s for s in VANISH], [0.06, 0.05, 0.07, 0.06, 0.055, 0.065]))
    assert v.verdict == NOT_SUPPORTED and "conditioning" in v.reason
    # the plain slope's sign flips between seeds: its interval straddles the margin
    assert vanishing_gradients.verdict(van_evidence([0.05, -0.04, 0.06, -0.05, 0.04, -0.06], ZERO)).verdict \
        == INCONCLUSIVE
    v = vanishing_gradients.verdict(van_evidence([0.05, math.nan, 0.06, 0.05, 0.05, 0.05], ZERO))
    assert v.verdict == INCONCLUSIVE and "precondition" in v.reason


def test_vanishing_gradients_judges_the_trained_nets_too():
    # supported at init, but training removes the plain net's trend: the trained nets contradict the claim
    v = vanishing_gradients.verdict(van_evidence(VANISH, FLAT, trained=(FLAT, FLAT)))
    assert v.verdict == NOT_SUPPORTED and "trained, no geometric trend" in v.reason
    # supported at init, the trained plain trend unclear (its sign flips between seeds): inconclusive
    v = vanishing_gradients.verdict(van_evidence(VANISH, FLAT, trained=([0.05, -0.04, 0.06, -0.05, 0.04, -0.06],
                                                                         FLAT)))
    assert v.verdict == INCONCLUSIVE and "trained, an interval straddles" in v.reason
    # a run without a trained record (interrupted before its first epoch) cannot be judged
    v = vanishing_gradients.verdict(van_evidence(VANISH, FLAT, trained=([math.nan] * SEEDS, FLAT)))
    assert v.verdict == INCONCLUSIVE and "precondition" in v.reason


def test_vanishing_gradients_replication_halves_disagree():
    # one seed of the second half has almost no trend: with 3 seeds that half cannot tell one
    j = judge(vanishing_gradients.verdict, van_evidence([-0.05, -0.05, -0.05, -0.06, -0.01, -0.06], FLAT), SEEDS)
    assert j["verdict"].verdict == SUPPORTED and j["replication"]["replicated"] is False
