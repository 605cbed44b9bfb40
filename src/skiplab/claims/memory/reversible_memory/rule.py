"""reversible-memory: a RevNet (Gomez et al. 2017) reconstructs every block's input from its output, so it need not
store activations: memory constant in depth at a modest compute overhead.

Verification (float32 weights and compute with the default float64 residual stream, train mode, at init): one stage
of `verify_blocks` invertible coupling blocks (RevNet-38's first-stage width, 32 channels) -> the relative error
||x_rec - x|| / ||x|| of the run's input reconstructed from its output, and the relative error of all gradients
(every parameter and the input, as one vector) of the reconstructing backward against ordinary backprop through the
same weights. The same reconstruction with a float32 stream is reported beside it, not judged: it shows why the
stream is float64 (models/families/revnet.py).
Empirical: RevNet-38-width nets of growing depth (3 stages, n blocks each) against the same nets with ordinary
backprop ("ResNet"): bytes saved for backward (exact, saved_tensors_hooks, parameters excluded), peak memory of a
fresh process at two depths (reported, not judged: RSS at this scale is allocator noise), and the step-time ratio
from interleaved repeats. Trains nothing: no RunSpecs.
"""

from __future__ import annotations

from typing import Any


from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Claim, Verdict, two_part
from skiplab.claims.core.stats import chosen, effect, fmt, summary

RECON_TOL = 1e-5  # issue 7: fp32 relative reconstruction error after 100+ blocks
GRAD_TOL = 1e-5  # issue 7: gradients vs ordinary backprop, relative
FLAT = 1.3  # RevNet saved bytes at the deepest depth / at the shallowest (issue 7's goal)
GROWS = 2.0  # the ResNet's must at least double over the same range, or the comparison shows nothing
SLOWER = 1.6  # RevNet step time / ResNet's at the same depth (issue 7's goal)

CLAIM = Claim(
    id="reversible-memory",
    kind="verification + empirical",
    statement="A RevNet reconstructs every block's input from its output, so activation memory is constant in "
              "depth, at a modest compute overhead.",
    source="Gomez et al. 2017; MemCNN (van de Leemput et al. 2019)",
    rule=(f"Verification (float32 weights and compute, float64 residual stream, train mode, at init, one run of "
          f">= 100 coupling blocks): on every seed the "
          f"relative reconstruction error <= {RECON_TOL:g} and the relative gradient error vs ordinary backprop "
          f"(all parameters and the input as one vector) <= {GRAD_TOL:g}: supported; both above on every seed for "
          f"either measure: not supported; otherwise inconclusive. Empirical: saved bytes for backward (exact, one "
          f"count per depth), RevNet at the deepest depth / shallowest <= {FLAT} while the ordinary-backprop twin's "
          f"ratio >= {GROWS}; and at every timed depth the step-time ratio RevNet / twin, per seed the median of "
          f"interleaved repeats on that seed's nets, its mean over seeds judged on a 95% t-interval against "
          f"{SLOWER} (raised to 2 seed-to-seed standard errors where larger). Supported if the bytes ratios hold and "
          f"every time interval lies below {SLOWER}; not supported if the RevNet's bytes ratio > {FLAT}, or some time "
          f"interval lies above {SLOWER}; otherwise inconclusive. The claim: not supported if either part is; "
          f"supported if both are; else inconclusive."),
    fair_test=("The baseline is the same RevNet with ordinary backprop (identical weights and forward FLOPs), so the "
               "differences are the reconstructing backward's alone; reconstruction and gradients are checked "
               "against ordinary backprop through the same weights after >= 100 blocks; saved bytes are counted "
               "exactly (parameters excluded), peak memory is read in a fresh process per depth, and step times "
               "are interleaved repeats."),
)


def _verification(e: dict[str, Any]) -> tuple[str, str]:
    recon, grad = chosen(e["recon"]), chosen(e["grad"])
    said = (f"{e['verify_blocks']} blocks: reconstruction error {fmt(summary(recon))}, gradient error vs "
            f"ordinary backprop {fmt(summary(grad))}")
    if "recon_fp32_stream" in e:
        said += f" (a float32 stream would give {fmt(summary(chosen(e['recon_fp32_stream'])))}, not judged)"
    if all(r <= RECON_TOL for r in recon) and all(g <= GRAD_TOL for g in grad):
        return SUPPORTED, said
    if all(r > RECON_TOL for r in recon) or all(g > GRAD_TOL for g in grad):
        return NOT_SUPPORTED, f"{said} (tolerance {RECON_TOL:g} / {GRAD_TOL:g})"
    return INCONCLUSIVE, f"{said}; seeds disagree"


def _empirical(e: dict[str, Any]) -> tuple[str, str]:
    rev, res = e["saved"]["revnet"], e["saved"]["resnet"]
    r_rev, r_res = rev[-1] / rev[0], res[-1] / res[0]
    times = [effect(f"step-time ratio RevNet / ResNet at {b} blocks", r, SLOWER)
             for b, r in zip(e["timed"], e["time_ratio"])]
    said = (f"saved bytes {e['blocks'][-1]} / {e['blocks'][0]} blocks: RevNet x{r_rev:.2f}, ordinary backprop "
            f"x{r_res:.1f}; " + "; ".join(t.text() for t in times))
    if r_rev > FLAT or any(t.call == "above" for t in times):
        return NOT_SUPPORTED, said
    if r_res >= GROWS and all(t.call == "below" for t in times):
        return SUPPORTED, said
    return INCONCLUSIVE, said


def verdict(evidence: dict[str, Any]) -> Verdict:
    return two_part(_verification(evidence), _empirical(evidence), "Memory and time")
