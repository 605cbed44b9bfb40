"""highway-gates: the claim, its thresholds and its verdict (pure: evidence in, verdict out).

Two parts, both judged: trainability (the residual net trains at depth, the highway net at least as well as
plain) and the gates (training moves them, and training rather than the gate-bias init sets their level). The
evidence keys are built by `err_key` / `gate_key`, which measurement.py uses too."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Claim, Verdict
from skiplab.claims.core.stats import chosen, effect
from skiplab.claims.depth import degradation

# The trainability thresholds are the degradation claim's, so "trains" and "degrades" mean the same in both:
TARGET = degradation.TARGET  # trains reliably: full-pass train error below 1% after the ladder's budget
MARGIN = degradation.MARGIN  # a train-error difference counts when it exceeds 1 percentage point
FAMILIES = ("plain", "resnet", "highway")
# Srivastava et al. (Sec. 2.2) initialise the gate bias negative, "e.g. -1, -3"; -2 (the middle) is the model's
# default and the bias of the ladder's highway twins, whose finished runs are reused.
DEFAULT_BIAS = -2.0
BIASES = (-1.0, -2.0, -3.0)
# Gates are read as logits z = log(T / (1 - T)) of a block's mean T, the units the bias init is set in.
MOVE = 0.5  # "the gates move": |z trained - z init| over 0.5 nats, half the 1-nat step between neighbouring inits
IMPRINT = 0.5  # "training sets T": it removes over half of the spread in z that the three inits start with
Z_CLIP = 1e-6  # a block mean T of exactly 0 or 1 (closed/open by construction) is read as 1e-6 / 1 - 1e-6


def err_key(family: str, depth: int, bias: float | None = None) -> str:
    """The errors entry of a net; highway nets are named by their gate-bias init too."""
    return f"{family}-{depth}" if family != "highway" else f"highway-{depth} b{bias:g}"


def gate_key(depth: int, bias: float) -> str:
    return f"{depth}/b{bias:g}"


CLAIM = Claim(
    id="highway-gates",
    kind="empirical",
    statement="Highway gates T(x) choose how much highway to use; T near 1 behaves like a plain net, T near 0 like "
              "an identity wire; the always-open ResNet highway trains reliably at depth.",
    source="Srivastava, Greff & Schmidhuber 2015",
    rule=(f"Two parts; the claim is supported only if both are, not supported if either is, otherwise "
          f"inconclusive. TRAINABILITY: full-pass train error (eval mode) of plain and residual twins at the "
          f"ladder's depths and highway twins (gate bias {DEFAULT_BIAS:g}) at its middle and deepest (every depth at "
          f"full scale), after the ladder's budget. Effects, each a mean over seeds judged on its 95% t-interval as "
          f"rates on the training split's n examples (margin raised to 2 binomial standard errors of one run's "
          f"rates where larger; a full pass over the training split, not held out): the residual net's train error "
          f"at each depth against {TARGET:.0%}; the deepest highway net's minus the deepest plain net's, paired per "
          f"seed, against {MARGIN:.0%}; the plain net's deepest minus shallowest, paired per seed, against "
          f"{MARGIN:.0%}. Not supported if the deepest residual net's interval lies above {TARGET:.0%} or the "
          f"highway-minus-plain interval above its margin. Otherwise inconclusive unless the plain net's depth "
          f"difference lies above its margin (else depth is no challenge at this budget). Supported if the residual "
          f"net's interval lies below {TARGET:.0%} at every depth and the highway-minus-plain interval below its "
          f"margin; otherwise inconclusive. GATES: highway twins at the ladder's middle depth with gate-bias inits "
          f"{', '.join(f'{b:g}' for b in BIASES)} (the same seeds, so a seed's three nets differ at init only in the "
          f"bias). Per gated block, the mean of T over examples, channels and positions of the gradient probe's "
          f"fixed batch (train-mode batch norm), at init and trained, read as a logit z = log(T/(1-T)). Effects, "
          f"each a mean over seeds judged on its 95% t-interval against its margin raised to 2 seed-to-seed "
          f"standard errors where larger: (G1, the gates move) |z trained - z init| averaged over gated blocks and "
          f"the three inits, against {MOVE:g} nats (half the 1-nat step between neighbouring inits); (G2, training "
          f"and not the init sets the gates) 1 - R_trained/R_init, R the range of z over the three inits averaged "
          f"over gated blocks, against {IMPRINT:g} (training removes over half of the init's imprint). "
          f"Precondition: each init's highway net at that depth trains (train-error interval below {TARGET:.0%}), "
          f"else the gate part is inconclusive. Gate part not supported if G1 or G2 lies below its margin (the "
          f"gates stay where they started, or their level follows the init), supported if both lie above, "
          f"otherwise inconclusive. Descriptive only: T by block at every highway depth and init, the within-block "
          f"spread of T over examples at init and trained, and the share of blocks leaning to carry (T < 0.5)."),
    fair_test=("The highway, residual and plain nets are twins (the same skeleton, data, recipe, budget and seeds: "
               "the ladder's), so only the skip differs; trainability is full-pass train error, and the verdict "
               "needs the plain net to degrade with depth, else the budget does not test training at depth. The "
               "gates are read per block on a fixed batch at init and after training, under three gate-bias inits "
               "that differ in nothing else, so a gate level that training chooses can be told from one the init "
               "left there."),
)


def logit(p: float) -> float:
    p = min(max(p, Z_CLIP), 1 - Z_CLIP)
    return math.log(p / (1 - p))


def block_z(stats: list[dict[str, Any]]) -> list[float]:
    """z of each gated block's mean T (one net, one moment)."""
    return [logit(b["mean"]) for b in stats]


def movement(run: dict[str, Any]) -> float:
    """One net: |z trained - z init| averaged over its gated blocks."""
    zi, zt = block_z(run["init"]), block_z(run["trained"])
    return sum(abs(a - b) for a, b in zip(zt, zi)) / len(zi) if zi else math.nan


def spread(runs: Sequence[dict[str, Any]], when: str) -> float:
    """One seed's nets under the different inits: the range of z over inits, averaged over gated blocks."""
    zs = [block_z(r[when]) for r in runs]
    if not zs or not zs[0] or any(len(z) != len(zs[0]) for z in zs):
        return math.nan
    return sum(max(col) - min(col) for col in zip(*zs)) / len(zs[0])


def imprint_removed(runs: Sequence[dict[str, Any]]) -> float:
    """One seed: 1 - R_trained / R_init (1: training erased the init's differences; 0: it kept them)."""
    r0, r1 = spread(runs, "init"), spread(runs, "trained")
    return 1 - r1 / r0 if r0 > 0 else math.nan


def _finite(values: Sequence[float]) -> bool:
    return all(math.isfinite(v) for v in values)


def trainability(evidence: dict[str, Any]) -> Verdict:
    e, depths, n = evidence["errors"], evidence["depths"], evidence["train_examples"]
    lo, hi = min(depths), max(depths)
    names = [err_key(f, d) for f in ("plain", "resnet") for d in depths] + [err_key("highway", hi, DEFAULT_BIAS)]
    if not all(_finite(chosen(e[k])) for k in names):
        return Verdict(INCONCLUSIVE, "precondition failed: a train error is missing or not finite (diverged run)")

    def rate(name: str, values: list[float], margin: float, *arms: list[float]):
        return effect(name, values, margin, examples=n, rates=arms or [values], held_out=False)

    res = {d: rate(f"resnet-{d} train error", e[f"resnet-{d}"], TARGET) for d in depths}
    hw_name = err_key("highway", hi, DEFAULT_BIAS)
    hw, plain = e[hw_name], e[f"plain-{hi}"]
    hw_minus_plain = rate(f"{hw_name} minus plain-{hi} train error", [a - b for a, b in zip(hw, plain)], MARGIN,
                          hw, plain)
    degrades = rate(f"plain-{hi} minus plain-{lo} train error", [a - b for a, b in zip(plain, e[f"plain-{lo}"])],
                    MARGIN, plain, e[f"plain-{lo}"])
    said = "; ".join(x.text() for x in (res[hi], hw_minus_plain, degrades))
    if res[hi].call == "above":
        return Verdict(NOT_SUPPORTED, f"the deepest residual net does not reach {TARGET:.0%} train error: {said}")
    if hw_minus_plain.call == "above":
        return Verdict(NOT_SUPPORTED, f"the deepest highway net trains worse than its plain twin: {said}")
    if degrades.call != "above":
        return Verdict(INCONCLUSIVE, f"the plain net does not clearly degrade with depth, so this budget does not "
                                     f"test training at depth: {said}")
    said = "; ".join(res[d].text() for d in depths if d != hi) + f"; {said}"
    if all(r.call == "below" for r in res.values()) and hw_minus_plain.call == "below":
        return Verdict(SUPPORTED, f"the residual net trains below {TARGET:.0%} at every depth while the plain net "
                                  f"degrades, and the highway net does at least as well as plain: {said}")
    return Verdict(INCONCLUSIVE, f"an interval straddles its margin: {said}")


def gate_effects(evidence: dict[str, Any]) -> tuple[list[float], list[float]]:
    """Per seed (all seeds, in order): G1, |z trained - z init| averaged over gated blocks and inits; G2, the share
    of the inits' spread in z that training removed."""
    d, biases = evidence["gate_depth"], evidence["gate_biases"]
    per_bias = [evidence["gates"][gate_key(d, b)] for b in biases]
    seeds = range(len(per_bias[0]))
    moved = [sum(movement(runs[s]) for runs in per_bias) / len(per_bias) for s in seeds]
    return moved, [imprint_removed([runs[s] for runs in per_bias]) for s in seeds]


def gates(evidence: dict[str, Any]) -> Verdict:
    d, n, e = evidence["gate_depth"], evidence["train_examples"], evidence["errors"]
    errs = {b: e[err_key("highway", d, b)] for b in evidence["gate_biases"]}
    if not all(_finite(chosen(v)) for v in errs.values()):
        return Verdict(INCONCLUSIVE, f"precondition failed: a highway-{d} train error is missing or not finite")
    trains = [effect(f"{err_key('highway', d, b)} train error", v, TARGET, examples=n, rates=[v], held_out=False)
              for b, v in errs.items()]
    if any(t.call != "below" for t in trains):
        return Verdict(INCONCLUSIVE, f"precondition failed: a highway-{d} net does not clearly train below "
                                     f"{TARGET:.0%}, so its gates are not a trained net's: "
                                     + "; ".join(t.text() for t in trains))
    moved, removed = gate_effects(evidence)
    if not (_finite(chosen(moved)) and _finite(chosen(removed))):
        return Verdict(INCONCLUSIVE, f"precondition failed: a highway-{d} gate statistic is missing or not finite")
    g1 = effect(f"highway-{d} gate movement |z trained - z init| (nats)", moved, MOVE)
    g2 = effect(f"highway-{d} share of the inits' gate spread removed by training", removed, IMPRINT)
    said = f"{g1.text()}; {g2.text()}"
    if g1.call == "below":
        return Verdict(NOT_SUPPORTED, f"the gates stay where their init put them: {said}")
    if g2.call == "below":
        return Verdict(NOT_SUPPORTED, f"the gates move, but their level follows the bias init: {said}")
    if g1.call == "above" and g2.call == "above":
        return Verdict(SUPPORTED, f"training moves the gates and sets their level whatever the init: {said}")
    return Verdict(INCONCLUSIVE, f"a gate interval straddles its margin: {said}")


def verdict(evidence: dict[str, Any]) -> Verdict:
    """Supported only if both parts are; not supported if either part is; otherwise inconclusive."""
    parts = {"trainability": trainability(evidence), "gates": gates(evidence)}
    said = " | ".join(f"{name} {v.verdict}: {v.reason}" for name, v in parts.items())
    calls = [v.verdict for v in parts.values()]
    if NOT_SUPPORTED in calls:
        return Verdict(NOT_SUPPORTED, said)
    return Verdict(SUPPORTED if all(c == SUPPORTED for c in calls) else INCONCLUSIVE, said)
