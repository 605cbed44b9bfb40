"""The verdicts of jacobian-near-identity, residual-aligns-with-error and boosting driven to all three outcomes with
synthetic evidence of 6 seeds, a replication check for each (an effect whose seed halves disagree is not
replicated), and their presentations checked against the results.json schema's shape (no training)."""

import math

from skiplab.claims import CLAIMS
from skiplab.claims.blocks import boosting
from skiplab.claims.blocks import jacobian_near_identity as j
from skiplab.claims.blocks import residual_aligns_with_error as align
from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED
from skiplab.claims.core.stats import judge

SEEDS = 6
OK = (0.05,) * SEEDS  # held-out error of every seed: the net has learned


def not_replicated(verdict, evidence, whole=SUPPORTED):
    """True if the whole reaches `whole` and the halves disagree with it (so it is not replicated)."""
    r = judge(verdict, evidence, SEEDS)
    return r["verdict"].verdict == whole and r["replication"]["replicated"] is False


def align_state(a, n, blocks=3, error=0.05):
    return {"cos": [a] * blocks, "null": [n] * blocks, "mean_cos": a, "mean_null": n, "error": error}


def align_evidence(trained, errors=OK):
    """trained: per seed (A, N) of the trained net."""
    residual = [{"init": align_state(0.0, 0.0), "trained": align_state(a, n, error=e)}
                for (a, n), e in zip(trained, errors)]
    toy = [{"init": align_state(0.0, 0.0), "trained": align_state(0.5, 0.0), "mse_over_small": 0.01}] * len(trained)
    return {"depth": 20, "seeds": list(range(len(trained))), "residual": residual, "toy": toy, "toy_steps": 5}


ALIGNED = [(0.2, 0.0), (0.15, 0.01), (0.3, -0.01), (0.25, 0.0), (0.2, 0.01), (0.22, 0.0)]


def test_alignment_all_outcomes():
    v = align.verdict(align_evidence(ALIGNED))
    assert v.verdict == SUPPORTED and v.reason.count("6 seeds") == 2
    # within the margin of the null on every seed
    v = align.verdict(align_evidence([(0.02, 0.0), (0.01, 0.01), (0.03, 0.0), (0.02, 0.01), (0.0, 0.0), (0.01, 0.0)]))
    assert v.verdict == NOT_SUPPORTED
    # a lead over a negative null while the cosine itself is negative is not alignment
    assert align.verdict(align_evidence([(-0.01 - 0.001 * i, -0.2) for i in range(SEEDS)])).verdict == NOT_SUPPORTED
    # the lead scatters across the 0.05 margin
    mixed = [(0.2, 0.0), (0.02, 0.0), (0.3, 0.0), (0.01, 0.0), (0.25, 0.0), (0.03, 0.0)]
    assert align.verdict(align_evidence(mixed)).verdict == INCONCLUSIVE
    v = align.verdict(align_evidence(ALIGNED, errors=(0.05, 0.6, 0.05, 0.05, 0.05, 0.05)))
    assert v.verdict == INCONCLUSIVE and "precondition" in v.reason
    assert align.verdict(align_evidence([(0.2, 0.0), (math.nan, 0.0)] + ALIGNED[2:])).verdict == INCONCLUSIVE
    # an interval that only touches the margin (no spread, exactly at it) does not clear it on either side
    assert align.verdict(align_evidence([(align.MARGIN, 0.0)] * SEEDS)).verdict == INCONCLUSIVE


def test_alignment_replication_halves_disagree():
    # one seed of the second half barely leads the null: that half's 3-seed interval reaches below 0.05
    assert not_replicated(align.verdict, align_evidence(ALIGNED[:4] + [(0.06, 0.0), ALIGNED[5]]))


def readout_seed(losses, error=0.05):
    lin = {"names": [], "loss": [1.0, 0.5, 0.4], "error": [0.5, 0.2, 0.1], "train_error": [0.0] * 3}
    head = {"loss": losses, "error": [0.5] * (len(losses) - 1) + [error]}
    return {"head": head, "linear": lin, "fraction": boosting.improving_fraction(losses),
            "linear_fraction": boosting.improving_fraction(lin["loss"]), "error": error}


def boost_evidence(residual, errors=OK):
    plain = [None] * 7 + [2.0, 1.0, 1.5]
    return {"depth": 20, "seeds": list(range(len(residual))),
            "nets": {"residual": [readout_seed(r, e) for r, e in zip(residual, errors)],
                     "plain": [readout_seed(plain) for _ in residual]}}


DOWN = [2.0 - 0.1 * i for i in range(11)]  # 10 blocks, every one lowers the loss
NINE = DOWN[:10] + [DOWN[9] + 0.1]  # 9 of 10 lower it
EIGHT = DOWN[:9] + [DOWN[8] + 0.1, DOWN[8] + 0.2]  # 8 of 10 lower it: exactly at the threshold
SEVEN = DOWN[:8] + [2.0, 2.1, 2.2]  # 7 of 10
SIX = DOWN[:7] + [2.0, 2.1, 2.2, 2.3]  # 6 of 10


def test_improving_fraction_counts_only_readable_steps():
    assert boosting.improving_fraction(DOWN) == 1.0 and boosting.improving_fraction(NINE) == 0.9
    assert boosting.improving_fraction(EIGHT) == 0.8 and boosting.improving_fraction(SEVEN) == 0.7
    assert boosting.improving_fraction([None] * 7 + [2.0, 1.0, 1.5]) == 0.5
    assert math.isnan(boosting.improving_fraction([None, None, 1.0]))


def test_boosting_all_outcomes():
    v = boosting.verdict(boost_evidence([DOWN, NINE, DOWN, DOWN, NINE, DOWN]))  # mean 0.967, interval > 0.8
    assert v.verdict == SUPPORTED and "6 seeds" in v.reason
    assert boosting.verdict(boost_evidence([SEVEN, SIX, SEVEN, SIX, SEVEN, SIX])).verdict == NOT_SUPPORTED
    assert boosting.verdict(boost_evidence([DOWN, SEVEN, EIGHT, NINE, SIX, DOWN])).verdict == INCONCLUSIVE
    v = boosting.verdict(boost_evidence([DOWN] * SEEDS, errors=(0.05,) * 5 + (0.5,)))
    assert v.verdict == INCONCLUSIVE and "precondition" in v.reason


def test_boosting_replication_halves_disagree():
    # the second half has one seed at 0.7: its 3-seed interval reaches below 0.8, the whole's does not
    assert not_replicated(boosting.verdict, boost_evidence([DOWN, DOWN, DOWN, DOWN, SEVEN, DOWN]))


def test_presentations_follow_the_schema():
    for module, evidence in ((align, align_evidence(ALIGNED)), (boosting, boost_evidence([DOWN] * SEEDS))):
        numbers, figures = module.present(evidence)
        assert all(len(row) == len(numbers["columns"]) for row in numbers["rows"])
        for fig in figures:
            assert fig["id"] and fig["panels"]
            for panel in fig["panels"]:
                assert panel["kind"] == "line"
                assert all(len(s["x"]) == len(s["y"]) and None not in s["y"] for s in panel["series"])
    assert {"residual-aligns-with-error", "boosting"} <= set(CLAIMS)


def jac_evidence(res, plain):
    def seeds(ms):
        return [{"init": {"p90": 1.0}, "trained": {"p90": m}} for m in ms]
    return {"depth": 20, "seeds": list(range(len(res))), "nets": {"residual": seeds(res), "plain": seeds(plain)}}


PLAIN = [0.9, 1.0, 0.95, 0.9, 1.0, 0.95]


def test_jacobian_near_identity_all_outcomes():
    v = j.verdict(jac_evidence([0.1, 0.2, 0.15, 0.1, 0.2, 0.15], PLAIN))
    assert v.verdict == SUPPORTED and v.reason.count("6 seeds") == 2
    # no closer to 1 than the plain blocks
    assert j.verdict(jac_evidence([0.9, 1.1, 1.0, 0.9, 1.1, 1.0], [0.8, 1.0, 0.9, 0.8, 1.0, 0.9])).verdict \
        == NOT_SUPPORTED
    # closer than the plain blocks but not clustered: the residual spread lies above 0.5
    assert j.verdict(jac_evidence([1.2, 1.1, 1.3, 1.2, 1.1, 1.3], [2.0, 2.5, 3.0, 2.0, 2.5, 3.0])).verdict \
        == NOT_SUPPORTED
    # one seed far from clustered: the residual interval straddles 0.5
    assert j.verdict(jac_evidence([0.1, 0.7, 0.15, 0.5, 0.1, 0.6], PLAIN)).verdict == INCONCLUSIVE
    v = j.verdict(jac_evidence([0.1, math.nan, 0.15, 0.1, 0.2, 0.15], PLAIN))
    assert v.verdict == INCONCLUSIVE and "precondition" in v.reason


def test_jacobian_replication_halves_disagree():
    # one seed of the second half sits at 0.4: that half's 3-seed interval reaches above 0.5
    assert not_replicated(j.verdict, jac_evidence([0.1, 0.12, 0.11, 0.1, 0.4, 0.12], PLAIN))
