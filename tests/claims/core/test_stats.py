"""The statistics every verdict uses, on known answers."""

import math

from skiplab.claims.core.stats import agreement, slope, summary


def test_slope_is_exact_on_a_line():
    assert abs(slope([8, 20, 56], [0.8, 2.0, 5.6]) - 0.1) < 1e-12
    assert agreement([0.5, 0.6], 0.1) == "above" and agreement([0.0, 0.05], 0.1) == "below"
    assert agreement([0.0, 0.5], 0.1) == "unclear" and agreement([], 0.1) == "unclear"
    assert summary([1.0, 3.0]) == {"mean": 2.0, "std": math.sqrt(2.0), "n": 2}
