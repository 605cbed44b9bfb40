"""Adversarial attacks in pixel space: FGSM and PGD (L-inf and L2, random start, restarts, step-size rules) and
the per-example worst case over a set of attacks. Pure functions of (model, batch); batch norm in eval mode."""

from ..guards import attack_mode, logit_margin
from ._common import NORMS, project
from .gradient import STEP_RULES, fgsm, pgd, step_sizes
from .robust import Attack, robust_curve, standard_attacks, worst_of

__all__ = ["Attack", "NORMS", "STEP_RULES", "attack_mode", "fgsm", "logit_margin", "pgd", "project",
           "robust_curve", "standard_attacks", "step_sizes", "worst_of"]
