"""The statistics every verdict uses, on known answers."""

import math

import pytest
from scipy import stats

from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Verdict
from skiplab.claims.core.stats import chosen, effect, halves, judge, slope, summary


def test_slope_and_summary_are_exact():
    assert abs(slope([8, 20, 56], [0.8, 2.0, 5.6]) - 0.1) < 1e-12
    assert summary([1.0, 3.0]) == {"mean": 2.0, "std": math.sqrt(2.0), "n": 2, "values": [1.0, 3.0]}


def test_t_interval_of_a_plain_statistic():
    # mean 2, sd 1, k = 3: half-width t(0.975, 2) / sqrt(3) = 4.302653 / 1.732051 = 2.484138
    e = effect("x", [1.0, 2.0, 3.0], 0.5)
    assert e.mean == 2.0 and e.lo == pytest.approx(2 - 2.484138, abs=1e-6)
    assert e.hi == pytest.approx(2 + 2.484138, abs=1e-6)
    # noise of a non-rate statistic: seed-to-seed SE 1/sqrt(3), so the margin is raised to 2/sqrt(3)
    assert e.noise_se == pytest.approx(1 / math.sqrt(3)) and e.margin == pytest.approx(2 / math.sqrt(3))
    assert e.call == "unclear" and e.registered == 0.5


def test_calls_clear_the_margin_on_one_side_only():
    assert effect("a", [1.0, 1.1, 0.9, 1.0, 1.05, 0.95], 0.1).call == "above"
    assert effect("b", [0.0, 0.01, -0.01, 0.0, 0.02, -0.02], 0.1).call == "below"
    assert effect("c", [0.0, 0.3, -0.1, 0.4, 0.2, 0.1], 0.1).call == "unclear"
    assert effect("d", [-1.0, -1.1, -0.9, -1.0, -1.05, -0.95], 0.1).sign == "negative"
    assert effect("e", [0.0, 0.01, -0.01, 0.0, 0.02, -0.02], 0.1).sign == "null"
    assert effect("f", [float("nan")] * 6, 0.1).call == "unclear"
    assert effect("g", [1.0], 0.1).call == "unclear"  # one seed has no interval


def test_rates_on_examples_raise_the_margin_to_two_binomial_standard_errors():
    # two arms at 10% and 5% error on 450 examples: one run's SE of the difference is
    # sqrt(0.1*0.9/450 + 0.05*0.95/450) = 0.017480
    a, b = [0.10] * 6, [0.05] * 6
    diff = [x - y for x, y in zip(a, b)]
    e = effect("d", diff, 0.01, examples=450, rates=[a, b])
    assert e.noise_se == pytest.approx(math.sqrt((0.09 + 0.0475) / 450))
    assert e.margin == pytest.approx(2 * e.noise_se) and e.unit == "percent"
    assert e.lo == pytest.approx(0.05) and e.call == "above"  # no seed spread, train-set rate: a point interval
    # a held-out test set is shared by every seed, so its sampling noise widens the interval too
    held = effect("d", diff, 0.01, examples=450, rates=[a, b], held_out=True)
    half = 1.959964 * e.noise_se  # no seed spread: the known binomial part alone, a normal quantile
    assert held.lo == pytest.approx(0.05 - half, abs=1e-6) and held.call == "unclear"
    # with seed spread too, Welch-Satterthwaite df: var = s^2/k + se^2, df = var^2 / ((s^2/k)^2 / (k-1))
    a2 = [0.10, 0.12, 0.08, 0.11, 0.09, 0.10]
    both = effect("d", [x - y for x, y in zip(a2, b)], 0.01, examples=450, rates=[a2, b], held_out=True)
    seed_var = (0.02 ** 2 + 0.02 ** 2 + 0.01 ** 2 + 0.01 ** 2) / 5 / 6
    var = seed_var + both.noise_se ** 2
    t = stats.t.ppf(0.975, var ** 2 / (seed_var ** 2 / 5))
    assert both.hi - both.mean == pytest.approx(t * math.sqrt(var), rel=1e-9)
    with pytest.raises(ValueError, match="rates"):
        effect("d", diff, 0.01, examples=450)


def _rule(evidence):
    e = effect("gap", evidence["gap"], 0.1)
    if e.call == "above":
        return Verdict(SUPPORTED, e.text())
    return Verdict(NOT_SUPPORTED if e.call == "below" else INCONCLUSIVE, e.text())


def test_judge_replicates_on_both_halves_or_says_not():
    assert halves(6) == [[0, 1, 2], [3, 4, 5]] and halves(7) == [[0, 1, 2], [4, 5, 6]]
    strong = judge(_rule, {"gap": [1.0, 1.1, 0.9, 1.0, 1.05, 0.95]}, 6)
    assert strong["verdict"].verdict == SUPPORTED and strong["replication"]["replicated"] is True
    assert [iv["seeds"] for iv in strong["intervals"]] == [6]
    # the first half shows the effect, the second shows none: the halves disagree with each other and the whole
    split = judge(_rule, {"gap": [1.0, 1.1, 0.9, 0.0, 0.01, -0.01]}, 6)
    assert split["verdict"].verdict == INCONCLUSIVE and split["replication"]["replicated"] is False
    assert [h["verdict"] for h in split["replication"]["halves"]] == [SUPPORTED, NOT_SUPPORTED]


def test_judge_without_effects_has_no_replication_and_chosen_is_all_outside_judging():
    out = judge(lambda ev: Verdict(SUPPORTED, "exact"), {}, 6)
    assert out["replication"] is None and out["intervals"] == []
    assert chosen([1, 2, 3]) == [1, 2, 3]
