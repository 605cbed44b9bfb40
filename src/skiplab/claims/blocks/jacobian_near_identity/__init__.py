"""jacobian-near-identity: a residual block's Jacobian is I + dF/dx; with a small branch its eigenvalues 1 + lambda
cluster around 1. rule.py holds the claim, its thresholds and verdict; measurement.py the probe of the ladder's
pre-activation pair; presentation.py the table and figures."""

from skiplab.claims.depth.ladder import LADDER_SCALES

from .measurement import budget, measure, runs
from .presentation import present
from .rule import CLAIM, verdict

SCALES = LADDER_SCALES  # reads only the depth ladder's runs: --scale cifar runs it

__all__ = ["CLAIM", "SCALES", "budget", "measure", "present", "runs", "verdict"]
