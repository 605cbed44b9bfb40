"""identity-is-easy: the data generator's stated energy, the nets (a residual net with zero branches is exactly the
identity, its plain twin is not), the steps-to-target counter, the leave-one-seed-out learning-rate choice, the
censored speedup bounds, and the verdict."""

import math

import pytest
import torch

from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Context, Verdict
from skiplab.claims.core.stats import effect, judge
from skiplab.claims.depth import identity_is_easy as ie
from skiplab.claims.depth.identity_is_easy import measurement as m
from skiplab.claims.depth.identity_is_easy import rule
from skiplab.claims.depth.identity_task import make_task, sample
from skiplab.models import create_model


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


def test_a_residual_net_with_zero_branches_is_exactly_the_identity_and_its_plain_twin_is_not():
    x = torch.randn(64, 6, generator=torch.Generator().manual_seed(1))
    q = m.embedding(0, 12, 6)
    assert torch.allclose(q.T @ q, torch.eye(6), atol=1e-6)
    zero = m.build_net("residual-zero", 3, 12, 6, seed=0)
    assert torch.allclose(zero(x), x, atol=1e-5)  # Q^T (Q x + 0) = x, whatever the batch-norm statistics
    plain = m.build_net("plain", 3, 12, 6, seed=0)
    m.zero_branches(plain)  # the same layers zeroed: a plain net then outputs a constant, whatever x is
    out = plain(x)
    assert torch.allclose(out, out[:1].expand_as(out)) and not torch.allclose(out, x, atol=0.1)
    control = m.build_net("residual", 3, 12, 6, seed=0)  # default init: random branches, not the identity
    assert ((control(x) - x) ** 2).mean() > 0.05
    # plain and residual arms share every draw of a seed: they differ only in the shortcuts
    p, r = m.build_net("plain", 2, 12, 6, seed=4), m.build_net("residual", 2, 12, 6, seed=4)
    assert all(torch.equal(a, b) for a, b in zip(p.state_dict().values(), r.state_dict().values()))


def test_zeroed_branches_still_learn_but_the_familys_zero_gamma_branches_never_do():
    x, y = torch.randn(32, 6), torch.randn(32, 6)
    ours = m.build_net("residual-zero", 2, 12, 6, seed=0)
    ((ours(x) - y) ** 2).sum().backward()
    last = [mod for mod in ours.stages[0].blocks[0].branch.modules() if isinstance(mod, torch.nn.Linear)][-1]
    assert last.weight.grad.abs().sum() > 0
    # zero_init sets the last batch-norm gamma (and beta) of a branch to 0: the ReLU after it sees exactly 0 and
    # passes no gradient back, so only the branch's last bias learns and the branch never depends on x
    theirs = create_model("resmlp", depth=2, width=12, norm="batch", in_channels=6, num_classes=6, zero_init=True)
    ((theirs(x) - y) ** 2).sum().backward()
    branch = theirs.stages[0].blocks[0].branch
    dead = [p for name, p in branch.named_parameters() if name != "5.bias"]
    assert len(dead) == 7 and all(p.grad is None or p.grad.abs().sum() == 0 for p in dead)


def test_steps_to_target_on_a_hand_made_curve():
    steps, losses = [0, 10, 20, 30, 40], [5.0, None, 1.0, 0.5, 0.2]
    assert m.steps_to_target(steps, losses, 1.0) == 20  # <= counts; a diverged (None) point never does
    assert m.steps_to_target(steps, losses, 0.3) == 40
    assert m.steps_to_target(steps, losses, 0.1) is None
    assert m.steps_to_target(steps, [math.nan] * 5, 1.0) is None


SEEDS = 6
LRS = (0.001, 0.01)
BUDGET = 1000


def run(n, last=None):
    """A synthetic run: reached at step n (None: never; then its last MSE is `last` x the target)."""
    end = BUDGET if n is None else n
    return {"steps": [0, end], "mse": [10.0, 0.09 if n is not None else (last or 5.0) * 0.1], "target": 0.1, "n": n}


def evidence(near, depths=(4, 16, 32), slow_lr=None, far=None):
    """near: {arm: {depth: [n per seed]}} at the rate 0.01; at 0.001 every run is 3x slower (or never), unless
    `slow_lr` gives its table."""
    runs = {}
    for arm in rule.ARMS:
        for d in depths:
            fast = near[arm][d]
            slow = (slow_lr or {}).get(arm, {}).get(d) or [None if n is None or 3 * n > BUDGET else 3 * n
                                                            for n in fast]
            runs[rule.run_key("near", arm, d, 0.01)] = [run(n) for n in fast]
            runs[rule.run_key("near", arm, d, 0.001)] = [run(n) for n in slow]
    far = far or {"plain": [None] * SEEDS, "residual": [None] * SEEDS}
    for arm in ("plain", "residual"):
        for lr in LRS:
            runs[rule.run_key("far", arm, 16, lr)] = [run(n) for n in far[arm]]
    return {"depths": list(depths), "far_depths": [16], "lrs": list(LRS), "arms": list(rule.ARMS),
            "far_arms": ["plain", "residual"], "seeds": list(range(SEEDS)), "max_steps": BUDGET, "runs": runs}


RES = {4: [100, 120, 110, 90, 100, 130], 16: [200, 210, 190, 200, 220, 180], 32: [300, 280, 320, 300, 290, 310]}
ZERO = {d: [50] * SEEDS for d in RES}
# 3-4x slower at the judged depths 16 and 32, and plain nets that never reach (counted at the 1000-step budget)
PLAIN = {4: [150, 130, 160, 140, 150, 170], 16: [700, None, 600, 650, 800, 700],
         32: [None, None, 900, None, 950, None]}


def nets(res=RES, plain=PLAIN):
    return {"plain": plain, "residual": res, "residual-zero": ZERO}


def test_each_seed_gets_the_rate_its_other_seeds_chose():
    # at depth 4 the residual net is fastest at 0.01 on every seed but seed 0, which alone would prefer 0.001
    slow = {"residual": {4: [10, 400, 400, 400, 400, 400]}}
    e = evidence(nets(), slow_lr=slow)
    picked = rule.selected(e, "near", "residual", 4)
    assert [lr for lr, _ in picked] == [0.01] * SEEDS  # seed 0's own 10 steps do not pick its rate
    assert picked[0][1]["n"] == 100
    # where two other seeds prefer 0.001 and one prefers 0.01, a replication half [0, 1, 2] picks 0.001 for seed 2
    e = evidence(nets(), slow_lr={"residual": {4: [50, 60, 500, 400, 400, 400]}})
    seen = []

    def probe(ev):
        seen.append([lr for lr, _ in rule.selected(ev, "near", "residual", 4)])
        effect("anything", [1.0] * SEEDS, 0.0)  # an effect, so that judge runs the halves
        return Verdict(SUPPORTED, "")

    judge(probe, e, SEEDS)
    assert seen[1][:3] == [0.01, 0.01, 0.001]  # seed 2 by seeds 0 and 1, which are faster at 0.001
    assert seen[0][2] == 0.01  # on all six seeds, seeds 3-5 outvote them
    # all censored: the rate whose runs ended nearer the target wins
    e = evidence(nets())
    e["runs"][rule.run_key("near", "plain", 32, 0.001)] = [run(None, last=2.0) for _ in range(SEEDS)]
    e["runs"][rule.run_key("near", "plain", 32, 0.01)] = [run(None, last=9.0) for _ in range(SEEDS)]
    assert {lr for lr, _ in rule.selected(e, "near", "plain", 32)} == {0.001}


def test_speedup_bounds_treat_censored_counts_honestly():
    e = evidence(nets(res={**RES, 16: [100, 250, None, 1, 1, 1]}, plain={**PLAIN, 16: [400, None, 500, 1, 1, 1]}))
    lower, upper = rule.bounds(e, "near", 16)
    assert lower[:3] == [2.0, 2.0, -math.inf]  # 400 / 100; 1000 (the budget) / 250; residual never: undefined
    assert upper[:3] == [2.0, math.inf, math.log2(500 / 1000)]  # plain never: undefined; residual at the budget


def test_verdict_all_outcomes():
    v = ie.verdict(evidence(nets()))
    assert v.verdict == SUPPORTED and "depth 4," not in v.reason.split(" (steps")[0]  # depth 4 is not judged
    # the plain net is as fast as the residual one
    v = ie.verdict(evidence(nets(plain={d: [n - 10 for n in RES[d]] for d in RES})))
    assert v.verdict == NOT_SUPPORTED and "upper bound" in v.reason
    # 2x on some seeds, ~1.3x on others at depth 32: the interval straddles log2 2
    mixed = {**PLAIN, 32: [900, 380, 950, 400, 900, 390]}
    assert ie.verdict(evidence(nets(plain=mixed))).verdict == INCONCLUSIVE
    # clearly under 2x at depth 32 for the seeds that reached, but a plain run that never reached leaves it open
    censored = {**PLAIN, 32: [400, 380, 390, 400, None, 390]}
    v = ie.verdict(evidence(nets(plain=censored)))
    assert v.verdict == INCONCLUSIVE and "upper bound undefined" in v.reason
    # a residual run that never reached at a judged depth: no lower bound there, so not supported cannot be read
    # off the plain net never reaching either
    v = ie.verdict(evidence(nets(res={**RES, 16: [200, None, 190, 200, 220, 180]})))
    assert v.verdict == INCONCLUSIVE and "lower bound undefined" in v.reason
    # precondition: neither judged net reaches the target anywhere it is judged (the zero-init arm does not count)
    never = {d: [None] * SEEDS for d in RES}
    v = ie.verdict(evidence(nets(res=never, plain=never)))
    assert v.verdict == INCONCLUSIVE and "precondition" in v.reason
    # a residual net that reached only where the plain one also did, at the budget: the upper bound decides
    late = {4: RES[4], 16: RES[16], 32: [None] * SEEDS}
    v = ie.verdict(evidence(nets(res=late, plain={**PLAIN, 32: [600, 650, 700, 600, 650, 700]})))
    assert v.verdict == NOT_SUPPORTED


def test_replication_halves_disagree():
    # depth 32: the first half is ~3x faster on every seed; in the second half one seed is only 1.8x faster,
    # which a 3-seed interval cannot place above 2x
    res = {**RES, 32: [300, 300, 300, 300, 500, 300]}
    j = judge(ie.verdict, evidence(nets(res=res, plain={**PLAIN, 32: [900, 950, 900, 900, 900, 950]})), SEEDS)
    assert j["verdict"].verdict == SUPPORTED
    assert [h["verdict"] for h in j["replication"]["halves"]] == [SUPPORTED, INCONCLUSIVE]
    assert j["replication"]["replicated"] is False


def test_present_renders_synthetic_evidence():
    numbers, figures = ie.present(evidence(nets(), far={"plain": [None] * SEEDS, "residual": [500] * SEEDS}))
    assert len(numbers["rows"]) == 3 * 3 + 2
    assert {f["id"] for f in figures} == {"identity-steps", "identity-final", "identity-lr", "identity-curves"}
    far_res = next(r for r in numbers["rows"] if r[:2] == ["far", "residual"])
    assert far_res[7] == "+1.00 [+1.00, +1.00]" and far_res[8] == "undefined (censored)"  # 1000 (budget) / 500


def test_a_run_stops_at_the_budget_and_the_zero_init_arm_starts_at_the_identity():
    cfg = {"depth": 2, "kind": "near", "seed": 0, "dim": 16, "energy_fraction": 0.05, "width": 16, "lr": 1e-3,
           "batch": 16, "max_steps": 5, "eval_every": 5, "eval_examples": 256}
    r = m.train(m.RegressionRun("residual", **cfg))
    assert r["steps"][-1] <= 5 and (r["n"] is None or r["n"] <= 5)
    z = m.train(m.RegressionRun("residual-zero", **cfg))
    # at step 0 the net is the identity, so its MSE is E||small(x)||^2 = target / TARGET, up to sampling noise
    assert z["mse"][0] / z["target"] == pytest.approx(1 / rule.TARGET, rel=0.15)


@pytest.mark.parametrize("scale", ["quick", "full"])
def test_every_scale_declares_its_grid(scale):
    ctx = Context(scale=scale, seeds=1)
    s = m.scale_config(ctx)
    jobs = m.jobs(ctx)
    near = len(s.depths) * len(rule.ARMS) * len(s.lrs)
    assert len(jobs) == near + len(s.far_depths) * len(m.FAR_ARMS) * len(s.lrs)
    assert len({j.key for j in jobs.values()}) == len(jobs)
