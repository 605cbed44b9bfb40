"""jacobian-near-identity: a residual block's Jacobian is I + dF/dx; with a small branch its eigenvalues 1 + lambda
cluster around 1. rule.py holds the claim, its thresholds and verdict; measurement.py the probe of the ladder's
pre-activation pair; presentation.py the table and figures."""

from .measurement import budget, measure, runs
from .presentation import present
from .rule import CLAIM, verdict

__all__ = ["CLAIM", "budget", "measure", "present", "runs", "verdict"]
