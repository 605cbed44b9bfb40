"""identity-is-easy: a residual net learns a near-identity map far faster than a plain net of the same depth.
rule.py holds the claim, its thresholds, the learning-rate selection and the verdict; measurement.py the nets, the
runs and the evidence; presentation.py the table and figures. The tasks are in ../identity_task.py."""

from .measurement import budget, measure, runs
from .presentation import present
from .rule import CLAIM, verdict

__all__ = ["CLAIM", "budget", "measure", "present", "runs", "verdict"]
