"""identity-is-easy: the data generator's stated energy, the steps-to-target counter, and the verdict."""

import math

import torch

from skiplab.claims.depth import identity_is_easy as ie
from skiplab.claims.depth.identity_task import make_task, sample
from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED


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


def evidence(res, plain, depths=(4, 16, 32)):
    """res/plain: {depth: [n per seed]} (None = not reached)."""
    runs = {}
    for label, table in (("residual", res), ("plain", plain)):
        for d in depths:
            runs[f"near/{label}/{d}"] = [{"steps": [0], "mse": [1.0], "target": 0.1, "n": n} for n in table[d]]
            runs[f"far/{label}/{d}"] = [{"steps": [0], "mse": [1.0], "target": 0.1, "n": None} for _ in table[d]]
    return {"depths": list(depths), "far_depths": list(depths), "seeds": [0, 1, 2], "max_steps": 1000,
            "runs": runs}


def test_verdict_all_outcomes():
    fast = {4: [100, 120, 110], 16: [200, 210, 190], 32: [300, 280, 320]}
    slow = {4: [150, 130, 160], 16: [500, None, 600], 32: [None, None, 900]}
    assert ie.verdict(evidence(fast, slow)).verdict == SUPPORTED  # depth 4 (below the middle) is not judged
    assert ie.verdict(evidence(fast, {d: [v - 10 for v in fast[d]] for d in fast})).verdict == NOT_SUPPORTED
    # faster but not 2x on one seed at depth 32
    mixed = {**slow, 32: [None, 500, 900]}
    assert ie.verdict(evidence(fast, mixed)).verdict == INCONCLUSIVE
    # precondition: a residual net that never reaches the target
    v = ie.verdict(evidence({**fast, 4: [100, None, 110]}, slow))
    assert v.verdict == INCONCLUSIVE and "precondition" in v.reason


def test_present_renders_synthetic_evidence():
    numbers, figures = ie.present(evidence({d: [10, 20, 30] for d in (4, 16, 32)},
                                           {d: [None, 50, 60] for d in (4, 16, 32)}))
    assert len(numbers["rows"]) == 2 * 2 * 3 and {f["id"] for f in figures} == {"identity-steps", "identity-final", "identity-curves"}


def test_a_run_stops_at_the_budget():
    r = ie.train(ie.RegressionRun("resmlp", 2, "near", 0, dim=16, energy_fraction=0.05, width=8, lr=1e-3, batch=16,
                                  max_steps=5, eval_every=5, eval_examples=64))
    assert r["steps"][-1] <= 5 and (r["n"] is None or r["n"] <= 5)
