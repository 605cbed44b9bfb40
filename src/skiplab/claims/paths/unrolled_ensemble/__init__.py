"""unrolled-ensemble: x_L = x_0 + sum_i F_i(x_i), so a ResNet behaves like an ensemble of paths (Veit et al. 2016):
deleting one block barely hurts (downsampling blocks aside), deleting a plain layer is catastrophic, and the error
grows smoothly with the number of blocks deleted.

Verification: the unrolled sum on pre-activation nets in float64 (probes/unrolled.py), random weights.
Empirical: lesions of the ladder's trained nets, in eval mode with batch norm calibrated on training data. Nets: the
deepest ladder ResNet (quick resnet56, full resnet110: Veit et al.'s net) and, as the residual/plain pair of equal
depth, the middle ladder depth (quick 20, full 56). The plain twin is taken at the middle depth because the deepest
plain net is the degradation claim's untrainable case: lesioning a net at chance error says nothing. Original
post-activation ResNets are used because those are what Veit et al. lesioned; the plain twin's lesion is "the layer
replaced by its input" where the shape allows (Veit et al.'s VGG lesion). Downsampling blocks are never deleted at
random (Veit et al. set them apart); the error curve E(k) is a mean over many distinct random deletion sets per k, and
its smoothness is the registered statistic J (rule.py).

rule.py holds the claim, its thresholds, statistics and verdict; measurement.py the nets, the deletion sets and the
measurement; presentation.py the table and figures."""

from skiplab.claims.depth.ladder import LADDER_SCALES

from .measurement import budget, draw_sets, eligible, measure, runs, set_errors
from .presentation import present
from .rule import CLAIM, CLIFF, DRAWS, K_MAX, RISE, full_curve, jump_fraction, k_curve, roles, single_increase, verdict

SCALES = LADDER_SCALES  # reads only the depth ladder's runs: --scale cifar runs it

__all__ = ["CLAIM", "SCALES", "CLIFF", "DRAWS", "K_MAX", "RISE", "budget", "draw_sets", "eligible", "full_curve",
           "jump_fraction", "k_curve", "measure", "present", "roles", "runs", "set_errors", "single_increase", "verdict"]
