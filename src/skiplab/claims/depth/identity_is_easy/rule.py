"""identity-is-easy, the rule: steps to the target, plain twin vs the residual control (not zero-init), each arm at
the learning rate its other seeds chose, judged on bounds that treat a run which never reached the target honestly.

Censoring. A run that never reaches the target in B steps has n >= B, nothing more. So per seed the speedup
n_plain / n_residual is bounded: from below by min(n_plain, B) / n_residual when the residual run reached (a plain
run that never did counts at B: conservative), from above by n_plain / min(n_residual, B) when the plain run
reached. "Supported" is read on the lower bound, "not supported" on the upper one, so censoring can only make the
verdict inconclusive, never flip it.

Learning rate. Every arm runs at every rate of one grid. For seed s, an arm's rate is the one whose runs on the
other active seeds (leave-one-seed-out, within the seeds being judged, so a replication half chooses afresh)
reached the target fastest: the lowest mean of log min(n, B), ties (all censored) broken by the lowest mean log of
the last MSE / target, then by the smaller rate. Seed s's own run never decides its own rate, so the selection adds
no optimism to its count. With one active seed there are no others and the seed chooses for itself."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Claim, Verdict
from skiplab.claims.core.stats import Effect, chosen, effect

TARGET = 0.1  # reached: held-out MSE <= 10% of E||small(x)||^2 (CLAIMS.md)
SPEEDUP = 2.0  # "far faster": the residual net needs at most half the plain net's steps
ARMS = ("plain", "residual", "residual-zero")
TASKS = ("near", "far")

CLAIM = Claim(
    id="identity-is-easy",
    kind="empirical",
    statement="A residual net learns a near-identity map far faster than a plain net of the same depth.",
    source="seed text (the residual-network story); He et al. 2016 Sec. 3.1",
    rule=(f"y = x + small(x) (E||small||^2 = 5% of E||x||^2); per seed, steps n to reach a held-out MSE <= "
          f"{TARGET:g} E||small||^2 within a budget of B steps, for the residual net with default init (the "
          f"control) and its plain twin, same depth and width, batch-normed, both read out by a fixed linear "
          f"isometry (so a residual net with zero branches is exactly the identity). Each arm runs at every "
          f"learning rate of one grid; a seed's rate is the one that reached the target fastest on the other "
          f"judged seeds (lowest mean log min(n, B); ties by lowest mean log last-MSE/target, then the smaller "
          f"rate; a lone judged seed chooses on itself). Precondition: at some depth >= the middle one, the "
          f"control or the plain net reached the target on some seed, else inconclusive. Effects, per seed, "
          f"paired: lower bound log2(min(n_plain, B) / n_residual) (a plain net that never reached counts at B), "
          f"defined where every residual run at that depth reached; upper bound log2(n_plain / min(n_residual, "
          f"B)), defined where every plain run reached. Each mean is judged on a 95% t-interval against log2 "
          f"{SPEEDUP:g} = 1 (a {SPEEDUP:g}x speedup), raised to 2 seed-to-seed standard errors where larger. "
          f"Supported if the lower bound is defined and its interval lies above the margin at every depth >= the "
          f"middle one. Not supported if at the deepest depth the upper bound is defined and its interval lies "
          f"below the margin. Otherwise inconclusive. Reported, not judged: the zero-init residual net (starts at "
          f"the identity) and the task y = -x + small(x) (plain vs control, same selection), where the advantage "
          f"is expected to shrink."),
    fair_test=("A regression y = x + small(x) whose perturbation has a stated energy; the residual net is not "
               "zero-initialised (a zero-init residual net starts at the identity, which would make the test "
               "trivial; it is reported beside), and both nets are the same depth and width, batch-normed, read "
               "out linearly, and each gets its best learning rate from the same grid; steps are counted to a "
               "held-out MSE <= 10% of E||small(x)||^2; a target far from the identity (y = -x + small(x)) shows "
               "where the advantage ends."),
)


def lr_key(lr: float) -> str:
    return f"{lr:g}"


def run_key(kind: str, arm: str, depth: int, lr: float) -> str:
    return f"{kind}/{arm}/{depth}/{lr_key(lr)}"


def count(run: dict[str, Any]) -> float:
    """Steps to the target; never reached = inf."""
    return math.inf if run["n"] is None else float(run["n"])


def last_ratio(run: dict[str, Any]) -> float:
    """The last held-out MSE / target; a diverged run (non-finite MSE) = inf."""
    v = run["mse"][-1]
    return math.inf if v is None else v / run["target"]


def _score(runs: Sequence[dict[str, Any]], budget: float) -> tuple[float, float]:
    def log(v: float) -> float:
        return math.log(v) if v > 0 else -math.inf
    steps = sum(math.log(max(min(count(r), budget), 1.0)) for r in runs) / len(runs)
    return steps, sum(log(last_ratio(r)) for r in runs) / len(runs)


def selected(evidence: dict[str, Any], kind: str, arm: str, depth: int) -> list[tuple[float, dict[str, Any]]]:
    """Per seed (all of them; a rule reads the active ones through `chosen`/`effect`): (learning rate, run), the
    rate chosen on the other active seeds (see the module docstring)."""
    lrs, budget = evidence["lrs"], float(evidence["max_steps"])
    table = [evidence["runs"][run_key(kind, arm, depth, lr)] for lr in lrs]
    active = chosen(list(range(len(table[0]))))
    out = []
    for i in range(len(table[0])):
        pool = [j for j in active if j != i] or [i]
        best = min(range(len(lrs)), key=lambda a: (*_score([table[a][j] for j in pool], budget), lrs[a]))
        out.append((lrs[best], table[best][i]))
    return out


def bounds(evidence: dict[str, Any], kind: str, depth: int, arm: str = "residual") -> tuple[list[float], list[float]]:
    """Per seed, the lower and upper bounds of log2(n_plain / n_arm) (-inf / +inf where a bound is undefined)."""
    budget = float(evidence["max_steps"])
    res = [count(r) for _, r in selected(evidence, kind, arm, depth)]
    plain = [count(r) for _, r in selected(evidence, kind, "plain", depth)]
    lower = [math.log2(min(p, budget) / max(r, 1.0)) if math.isfinite(r) else -math.inf for r, p in zip(res, plain)]
    upper = [math.log2(max(p, 1.0) / max(min(r, budget), 1.0)) if math.isfinite(p) else math.inf
             for r, p in zip(res, plain)]
    return lower, upper


def steps_text(evidence: dict[str, Any], kind: str, arms: Sequence[str], depths: Sequence[int]) -> str:
    """"depth 2: plain never/never (lr 0.003/0.003), residual 350/410 (lr 0.01/0.01); ..." over the active seeds."""
    parts = []
    for d in depths:
        cells = []
        for arm in arms:
            sel = chosen(selected(evidence, kind, arm, d))
            cells.append(f"{arm} {'/'.join('never' if r['n'] is None else str(r['n']) for _, r in sel)} "
                         f"(lr {'/'.join(lr_key(lr) for lr, _ in sel)})")
        parts.append(f"depth {d}: " + ", ".join(cells))
    return "; ".join(parts)


def verdict(evidence: dict[str, Any]) -> Verdict:
    depths, budget = evidence["depths"], evidence["max_steps"]
    judged, deep = depths[len(depths) // 2:], depths[-1]
    steps = steps_text(evidence, "near", ARMS, depths)

    def reached(arm: str, d: int) -> list[bool]:
        return [r["n"] is not None for _, r in chosen(selected(evidence, "near", arm, d))]

    if not any(any(reached(arm, d)) for arm in ("residual", "plain") for d in judged):
        return Verdict(INCONCLUSIVE, f"precondition failed: neither the residual control nor the plain net reached "
                                     f"the target on any seed at depths >= {judged[0]} within {budget} steps "
                                     f"(steps to target: {steps})")
    margin = math.log2(SPEEDUP)
    lower: dict[int, Effect] = {d: effect(f"log2 speedup at depth {d}, lower bound",
                                          bounds(evidence, "near", d)[0], margin)
                                for d in judged if all(reached("residual", d))}
    upper = (effect(f"log2 speedup at depth {deep}, upper bound", bounds(evidence, "near", deep)[1], margin)
             if all(reached("plain", deep)) else None)
    said = "; ".join(e.text() for e in [*lower.values(), *([upper] if upper else [])])
    said = f"{said} (steps to target: {steps})" if said else f"steps to target: {steps}"
    if len(lower) == len(judged) and all(e.call == "above" for e in lower.values()):
        return Verdict(SUPPORTED, f"even counting a plain net that never reached the target at {budget} steps, the "
                                  f"residual control needs at most 1/{SPEEDUP:g} of its steps at depths >= "
                                  f"{judged[0]}: {said}")
    if upper is not None and upper.call == "below":
        return Verdict(NOT_SUPPORTED, f"at depth {deep} the residual control is clearly not {SPEEDUP:g}x faster "
                                      f"than the plain net: {said}")
    open_ = []
    for d in judged:
        if d not in lower:
            open_.append(f"residual runs that never reached the target at depth {d} leave the lower bound undefined")
        elif lower[d].call != "above":
            open_.append(f"the lower bound at depth {d} is not above the margin")
    if upper is None:
        open_.append(f"plain runs that never reached the target at depth {deep} leave the upper bound undefined")
    else:
        open_.append(f"the upper bound at depth {deep} is not below the margin")
    return Verdict(INCONCLUSIVE, f"{'; '.join(open_)}: {said}")
