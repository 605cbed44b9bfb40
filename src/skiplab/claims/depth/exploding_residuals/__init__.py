"""exploding-residuals: without normalization an unscaled branch (h = 1) makes signals and gradients grow with
depth; scaling the branch restores trainability. rule.py holds the claim, its thresholds and verdict; measurement.py
what is trained and measured; presentation.py the table and figures."""

from .measurement import budget, measure, runs
from .presentation import present
from .rule import CLAIM, verdict

__all__ = ["CLAIM", "budget", "measure", "present", "runs", "verdict"]
