"""highway-gates: highway gates T(x) choose how much highway to use (T near 1: the plain transform, T near 0: an
identity wire); the always-open ResNet highway trains reliably at depth (Srivastava et al. 2015). rule.py holds the
claim, its thresholds and verdict; measurement.py the runs (the ladder's twins, plus highway twins under three
gate-bias inits) and the gate statistics; presentation.py the table and figures."""

from .measurement import budget, measure, runs
from .presentation import present
from .rule import CLAIM, verdict

__all__ = ["CLAIM", "budget", "measure", "present", "runs", "verdict"]
