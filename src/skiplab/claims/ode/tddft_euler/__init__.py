"""tddft-euler: forward-Euler propagation of the time-dependent Kohn-Sham equation is a residual update and
unstable; unitary propagators conserve the norm and converge to the same spectrum. rule.py holds the claim, its
tolerances and verdict; measurement.py the propagations; presentation.py the table and figures."""

from .measurement import budget, measure, runs
from .presentation import present
from .rule import CLAIM, verdict

__all__ = ["CLAIM", "budget", "measure", "present", "runs", "verdict"]
