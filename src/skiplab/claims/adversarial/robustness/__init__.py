"""robustness: residual nets are more robust to adversarial perturbations than plain/VGG-like nets at similar
clean accuracy; constraining Lip(F) per block trades clean accuracy for robustness. rule.py holds the claim, its
thresholds, the matching rule and the verdict; measurement.py the runs, attacks and bounds; presentation.py the table
and figures."""

from .measurement import budget, measure, runs
from .presentation import present
from .rule import CLAIM, verdict

__all__ = ["CLAIM", "budget", "measure", "present", "runs", "verdict"]
