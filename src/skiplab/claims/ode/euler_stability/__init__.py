"""euler-stability: explicit Euler x + h F(x) is only conditionally stable; an implicit block stays stable.
rule.py holds the claim, its thresholds and verdict; measurement.py the verification's known answers and the stiff
training comparison; presentation.py the table and figures."""

from .measurement import budget, measure, runs
from .presentation import present
from .rule import CLAIM, verdict

__all__ = ["CLAIM", "budget", "measure", "present", "runs", "verdict"]
