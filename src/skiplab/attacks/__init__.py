"""Adversarial attacks in pixel space: FGSM, PGD (L-inf and L2, random or zero start, restarts, step-size rules),
APGD-CE and APGD-T (Croce & Hein 2020), the per-example worst case over a set of attacks and the strong evaluation.
Pure functions of (model, batch); batch norm in eval mode."""

from ..guards import attack_mode, logit_margin
from ._common import NORMS, project
from .apgd import apgd, apgd_targeted, checkpoints
from .gradient import STEP_RULES, fgsm, pgd, step_sizes
from .robust import Attack, robust_curve, standard_attacks, strong_attacks, strong_curve, worst_of

__all__ = ["NORMS", "STEP_RULES", "Attack", "apgd", "apgd_targeted", "attack_mode", "checkpoints", "fgsm",
           "logit_margin", "pgd", "project", "robust_curve", "standard_attacks", "step_sizes", "strong_attacks",
           "strong_curve", "worst_of"]
