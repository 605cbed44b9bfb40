"""residual-aligns-with-error: each block's F_l(x_l) points along the loss-reducing direction (error correction,
Jastrzebski et al. 2018). Measured on the pre-activation runs the Jacobian claim already trains (x_{l+1} = x_l +
F_l(x_l) holds exactly there), at initialization and trained, on held-out examples, in both batch-norm modes on the
same weights, against a null distribution of many shuffled pairings; plus, on an identity-regression toy, the literal
cos(F_l(x_l), y - x_l). rule.py holds the claim, its thresholds and verdict; null.py the derangement null;
measurement.py the probes and runs; presentation.py the table and figures."""

from skiplab.claims.depth.ladder import LADDER_SCALES

from .measurement import budget, measure, runs
from .presentation import present
from .rule import CLAIM, verdict

SCALES = LADDER_SCALES  # reads only the depth ladder's runs: --scale cifar runs it

__all__ = ["CLAIM", "SCALES", "budget", "measure", "present", "runs", "verdict"]
