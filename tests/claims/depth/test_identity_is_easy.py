"""identity-is-easy: the data generator's stated energy, the steps-to-target counter, and the verdict."""

import math

import torch

from skiplab.claims.depth import identity_is_easy as ie
from skiplab.claims.depth.identity_task import make_task, sample
from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED
from skiplab.claims.core.stats import judge


def test_generator_energy_matches_its_stated_value():
    for seed in (0, 1):
        task = make_task(seed, dim=16, energy_fraction=0.05)
        assert task.small_energy == 0.05 * 16
        x, y = sample(task, 400_000, torch.Generator().manual_seed(7))
        mc = ((y - x) ** 2).sum(1).mean().item()  # y - x = small(x) on the near task
        assert abs(mc - task.small_energy) < 0.01 * task.small_energy
    far = make_task(0, kind="far")
    x, y = sample(far, 10, torch.Generator().manual_seed(0))
    assert torch.allclose(y, -x + far.small(x))


def test_generator_is_a_pure_function_of_the_seed():
    a, b = make_task(3), make_task(3)
    assert torch.equal(a.A, b.A) and a.eps == b.eps and not torch.equal(a.A, make_task(4).A)


def test_steps_to_target_on_a_hand_made_curve():
    steps, losses = [0, 10, 20, 30, 40], [5.0, None, 1.0, 0.5, 0.2]
    assert ie.steps_to_target(steps, losses, 1.0) == 20  # <= counts; a diverged (None) point never does
    assert ie.steps_to_target(steps, losses, 0.3) == 40
    assert ie.steps_to_target(steps, losses, 0.1) is None
    assert ie.steps_to_target(steps, [math.nan] * 5, 1.0) is None


SEEDS = 6


def evidence(res, plain, depths=(4, 16, 32), max_steps=1000):
    """res/plain: {depth: [n per seed]} (None = not reached)."""
    runs = {}
    for label, table in (("residual", res), ("plain", plain)):
        for d in depths:
            runs[f"near/{label}/{d}"] = [{"steps": [0], "mse": [1.0], "target": 0.1, "n": n} for n in table[d]]
            runs[f"far/{label}/{d}"] = [{"steps": [0], "mse": [1.0], "target": 0.1, "n": None} for _ in table[d]]
    return {"depths": list(depths), "far_depths": list(depths), "seeds": list(range(SEEDS)), "max_steps": max_steps,
            "runs": runs}


FAST = {4: [100, 120, 110, 90, 100, 130], 16: [200, 210, 190, 200, 220, 180], 32: [300, 280, 320, 300, 290, 310]}
# 3-4x slower at the judged depths 16 and 32 (a plain net that never reaches counts at the 1000-step budget)
SLOW = {4: [150, 130, 160, 140, 150, 170], 16: [700, None, 600, 650, 800, 700], 32: [None, None, 900, None, 950, None]}


def test_log2_speedup_counts_a_plain_net_that_never_reaches_at_the_budget():
    e = evidence({16: [100, 250], 4: [1, 1], 32: [1, 1]}, {16: [400, None], 4: [1, 1], 32: [1, 1]})
    assert ie.log2_speedups(e, 16) == [2.0, 2.0]  # 400 / 100 and 1000 (the budget) / 250


def test_verdict_all_outcomes():
    v = ie.verdict(evidence(FAST, SLOW))
    assert v.verdict == SUPPORTED and "depth 4" not in v.reason.split(" (steps")[0]  # depth 4 is not judged
    # the plain net is as fast as the residual one
    assert ie.verdict(evidence(FAST, {d: [v - 10 for v in FAST[d]] for d in FAST})).verdict == NOT_SUPPORTED
    # 2x on some seeds, ~1.3x on others at depth 32: the interval straddles log2 2
    mixed = {**SLOW, 32: [900, 380, 950, 400, 900, 390]}
    assert ie.verdict(evidence(FAST, mixed)).verdict == INCONCLUSIVE
    # clearly under 2x at depth 32, but a plain run that never reached leaves the speedup open
    censored = {**SLOW, 32: [400, 380, 390, 400, None, 390]}
    assert ie.verdict(evidence(FAST, censored, max_steps=400)).verdict == INCONCLUSIVE
    # precondition: a residual net that never reaches the target
    v = ie.verdict(evidence({**FAST, 4: [100, None, 110, 90, 100, 130]}, SLOW))
    assert v.verdict == INCONCLUSIVE and "precondition" in v.reason


def test_replication_halves_disagree():
    # depth 32: the first half is ~3x faster on every seed; in the second half one seed is only 1.8x faster,
    # which a 3-seed interval cannot place above 2x
    res = {**FAST, 32: [300, 300, 300, 300, 500, 300]}
    j = judge(ie.verdict, evidence(res, {**SLOW, 32: [900, 950, 900, 900, 900, 950]}), SEEDS)
    assert j["verdict"].verdict == SUPPORTED
    assert [h["verdict"] for h in j["replication"]["halves"]] == [SUPPORTED, INCONCLUSIVE]
    assert j["replication"]["replicated"] is False


def test_present_renders_synthetic_evidence():
    numbers, figures = ie.present(evidence({d: [10, 20, 30, 10, 20, 30] for d in (4, 16, 32)},
                                           {d: [None, 50, 60, None, 50, 60] for d in (4, 16, 32)}))
    assert len(numbers["rows"]) == 2 * 2 * 3 and {f["id"] for f in figures} == {"identity-steps", "identity-final", "identity-curves"}


def test_a_run_stops_at_the_budget():
    r = ie.train(ie.RegressionRun("resmlp", 2, "near", 0, dim=16, energy_fraction=0.05, width=8, lr=1e-3, batch=16,
                                  max_steps=5, eval_every=5, eval_examples=64))
    assert r["steps"][-1] <= 5 and (r["n"] is None or r["n"] <= 5)
