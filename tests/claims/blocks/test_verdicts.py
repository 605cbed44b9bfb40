"""The verdicts of jacobian-near-identity, residual-aligns-with-error and boosting driven to all three outcomes with synthetic evidence,
and their presentations checked against the results.json schema's shape (no training)."""

import math

from skiplab.claims import CLAIMS
from skiplab.claims.blocks import boosting
from skiplab.claims.blocks import jacobian_near_identity as j
from skiplab.claims.blocks import residual_aligns_with_error as align
from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED


def align_state(a, n, blocks=3, error=0.05):
    return {"cos": [a] * blocks, "null": [n] * blocks, "mean_cos": a, "mean_null": n, "error": error}


def align_evidence(trained, errors=(0.05, 0.05, 0.05)):
    """trained: per seed (A, N) of the trained net."""
    residual = [{"init": align_state(0.0, 0.0), "trained": align_state(a, n, error=e)}
                for (a, n), e in zip(trained, errors)]
    toy = [{"init": align_state(0.0, 0.0), "trained": align_state(0.5, 0.0), "mse_over_small": 0.01}] * len(trained)
    return {"depth": 20, "seeds": list(range(len(trained))), "residual": residual, "toy": toy, "toy_steps": 5}


def test_alignment_all_outcomes():
    assert align.verdict(align_evidence([(0.2, 0.0), (0.15, 0.01), (0.3, -0.01)])).verdict == SUPPORTED
    # within the margin of the null, or below it, on every seed
    assert align.verdict(align_evidence([(0.02, 0.0), (0.01, 0.01), (-0.2, 0.0)])).verdict == NOT_SUPPORTED
    # a lead over a negative null while the cosine itself is negative is not alignment
    assert align.verdict(align_evidence([(-0.01, -0.2)] * 3)).verdict == NOT_SUPPORTED
    assert align.verdict(align_evidence([(0.2, 0.0), (0.02, 0.0), (0.3, 0.0)])).verdict == INCONCLUSIVE
    v = align.verdict(align_evidence([(0.2, 0.0)] * 3, errors=(0.05, 0.6, 0.05)))
    assert v.verdict == INCONCLUSIVE and "precondition" in v.reason
    assert align.verdict(align_evidence([(0.2, 0.0), (math.nan, 0.0), (0.3, 0.0)])).verdict == INCONCLUSIVE
    # exactly at the margin is not above it
    assert align.verdict(align_evidence([(align.MARGIN, 0.0)] * 3)).verdict == NOT_SUPPORTED


def readout_seed(losses, error=0.05):
    lin = {"names": [], "loss": [1.0, 0.5, 0.4], "error": [0.5, 0.2, 0.1], "train_error": [0.0] * 3}
    head = {"loss": losses, "error": [0.5] * (len(losses) - 1) + [error]}
    return {"head": head, "linear": lin, "fraction": boosting.improving_fraction(losses),
            "linear_fraction": boosting.improving_fraction(lin["loss"]), "error": error}


def boost_evidence(residual, errors=(0.05, 0.05, 0.05)):
    plain = [None] * 7 + [2.0, 1.0, 1.5]
    return {"depth": 20, "seeds": [0, 1, 2],
            "nets": {"residual": [readout_seed(r, e) for r, e in zip(residual, errors)],
                     "plain": [readout_seed(plain) for _ in residual]}}


DOWN = [2.0 - 0.1 * i for i in range(11)]  # 10 blocks, every one lowers the loss
EIGHT = DOWN[:9] + [DOWN[8] + 0.1, DOWN[8] + 0.2]  # 8 of 10 lower it: exactly at the threshold
SEVEN = DOWN[:8] + [2.0, 2.1, 2.2]  # 7 of 10


def test_improving_fraction_counts_only_readable_steps():
    assert boosting.improving_fraction(DOWN) == 1.0
    assert boosting.improving_fraction(EIGHT) == 0.8 and boosting.improving_fraction(SEVEN) == 0.7
    assert boosting.improving_fraction([None] * 7 + [2.0, 1.0, 1.5]) == 0.5
    assert math.isnan(boosting.improving_fraction([None, None, 1.0]))


def test_boosting_all_outcomes():
    assert boosting.verdict(boost_evidence([DOWN, EIGHT, DOWN])).verdict == SUPPORTED
    assert boosting.verdict(boost_evidence([SEVEN, SEVEN, [2.0] * 11])).verdict == NOT_SUPPORTED
    assert boosting.verdict(boost_evidence([DOWN, SEVEN, DOWN])).verdict == INCONCLUSIVE
    v = boosting.verdict(boost_evidence([DOWN, DOWN, DOWN], errors=(0.05, 0.05, 0.5)))
    assert v.verdict == INCONCLUSIVE and "precondition" in v.reason


def test_presentations_follow_the_schema():
    for module, evidence in ((align, align_evidence([(0.2, 0.0)] * 3)), (boosting, boost_evidence([DOWN] * 3))):
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
    return {"depth": 20, "seeds": [0, 1, 2], "nets": {"residual": seeds(res), "plain": seeds(plain)}}


def test_jacobian_near_identity_all_outcomes():
    assert j.verdict(jac_evidence([0.1, 0.2, 0.15], [0.9, 1.0, 0.95])).verdict == SUPPORTED
    assert j.verdict(jac_evidence([0.9, 1.1, 1.0], [0.8, 1.0, 0.9])).verdict == NOT_SUPPORTED
    assert j.verdict(jac_evidence([1.2, 1.1, 1.3], [2.0, 2.5, 3.0])).verdict == NOT_SUPPORTED
    assert j.verdict(jac_evidence([0.1, 0.7, 0.15], [0.9, 1.0, 0.95])).verdict == INCONCLUSIVE
    assert j.verdict(jac_evidence([0.1, math.nan, 0.15], [0.9, 1.0, 0.95])).verdict == INCONCLUSIVE
