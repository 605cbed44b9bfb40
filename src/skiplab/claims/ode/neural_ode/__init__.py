"""neural-ode: a continuous-depth ODE-Net matches a ResNet with far fewer parameters; its NFE grows in training;
the adjoint trains in memory constant in depth. rule.py holds the claim, its thresholds and verdict; measurement.py
the runs and the saved-bytes measurement; presentation.py the table and figures."""

from .measurement import budget, measure, runs
from .presentation import present
from .rule import CLAIM, verdict

__all__ = ["CLAIM", "budget", "measure", "present", "runs", "verdict"]
