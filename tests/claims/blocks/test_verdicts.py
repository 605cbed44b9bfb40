"""The verdict of boosting driven to all three outcomes with
synthetic evidence of 6 seeds, a replication check (an effect whose seed halves disagree is not
replicated), and its presentation checked against the results.json schema's shape (no training)."""

import math

from skiplab.claims import CLAIMS
from skiplab.claims.blocks import boosting
from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED
from skiplab.claims.core.stats import judge

SEEDS = 6
OK = (0.05,) * SEEDS  # held-out error of every seed: the net has learned


def not_replicated(verdict, evidence, whole=SUPPORTED):
    """True if the whole reaches `whole` and the halves disagree with it (so it is not replicated)."""
    r = judge(verdict, evidence, SEEDS)
    return r["verdict"].verdict == whole and r["replication"]["replicated"] is False


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
    numbers, figures = boosting.present(boost_evidence([DOWN] * SEEDS))
    assert all(len(row) == len(numbers["columns"]) for row in numbers["rows"])
    for fig in figures:
        assert fig["id"] and fig["panels"]
        for panel in fig["panels"]:
            assert panel["kind"] == "line"
            assert all(len(s["x"]) == len(s["y"]) and None not in s["y"] for s in panel["series"])
    assert "boosting" in CLAIMS
