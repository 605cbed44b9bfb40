"""reversible-memory: the verdict's three outcomes on synthetic evidence of 6 seeds (through each part), its
replication on seed halves, present() on it; known answers of the new measurements (the minibatch noise, the
gradient checks on a tiny net, the training comparison's pairing); the FULL training configs on fixture data."""

import math
from dataclasses import replace

import pytest
import torch

from skiplab.claims import CLAIMS
from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Context
from skiplab.claims.core.engine import Done, execute
from skiplab.claims.core.stats import judge
from skiplab.claims.memory import reversible_memory as R
from skiplab.claims.memory.reversible_memory import measurement as M
from skiplab.claims.memory.reversible_memory import standard as S

from ..conftest import image_folder

SEEDS = 6
RATIO = (0.03, 0.04, 0.035, 0.03, 0.04, 0.035)  # gradient error / minibatch noise, per seed
BP_LOSS = (1.0, 1.2, 0.9, 1.1, 1.3, 0.8)  # seed-to-seed sd 0.19: the training margin
DIFF = (0.01, -0.01, 0.02, 0.0, -0.02, 0.01)  # reversible - backprop held-out loss, per seed
# per timed depth, per seed: the median step-time ratio RevNet / ResNet of that seed's repeats
FAST = ((1.3, 1.4, 1.35, 1.3, 1.4, 1.35), (1.2, 1.3, 1.25, 1.2, 1.3, 1.25))


def evidence(ratio=RATIO, diff=DIFF, bp_loss=BP_LOSS, acc=0.5, rev=(100, 101, 102), res=(100, 500, 2400),
             ratios=FAST, rev_loss=None):
    rev_loss = rev_loss or [b + d for b, d in zip(bp_loss, diff)]
    runs = {arm: [{"loss": v, "acc": acc, "curve": [2.3, 2.0, v or 2.0], "diverged_step": None} for v in losses]
            for arm, losses in (("backprop", bp_loss), ("reversible", rev_loss))}
    return {"seeds": list(range(SEEDS)), "verify_blocks": 102, "batch_size": 8,
            "standard": {"recon": [1.4e-3] * SEEDS, "grad": [0.027] * SEEDS, "noise": [0.9] * SEEDS,
                         "ratio": list(ratio), "fp32_floor": [1e-6] * SEEDS},
            "remedy": {"recon": [0.0] * SEEDS, "grad": [0.0] * SEEDS},
            "train": {"data": "digits", "steps": 40, "lr": 0.05, "chance": 0.1, "examples": 450, **runs},
            "blocks": [21, 105, 501], "saved": {"revnet": list(rev), "resnet": list(res)}, "timed": [21, 105],
            "time_ratio": [list(r) for r in ratios], "peak_blocks": [21, 105],
            "peak": {"revnet": [10 * 2 ** 20, 11 * 2 ** 20], "resnet": [20 * 2 ** 20, None]}}


def test_all_outcomes():
    v = R.verdict(evidence())
    assert v.verdict == SUPPORTED and "gradient error / minibatch noise" in v.reason and "6 seeds" in v.reason
    # the gradient error is a fifth of the minibatch noise on every seed: above the tolerance 0.1
    r = R.verdict(evidence(ratio=(0.2, 0.25) * 3))
    assert r.verdict == NOT_SUPPORTED and "verification not supported" in r.reason
    # the reconstructing backward ends 0.5 nats worse on every seed (the margin: 0.19, the backprop runs' sd)
    assert R.verdict(evidence(diff=(0.5, 0.45) * 3)).verdict == NOT_SUPPORTED
    r = R.verdict(evidence(rev_loss=[None, 1.2, 0.9, 1.1, 1.3, 0.8]))  # a reversible run diverged
    assert r.verdict == NOT_SUPPORTED and "diverged" in r.reason
    assert R.verdict(evidence(rev=(100, 150, 200))).verdict == NOT_SUPPORTED  # memory grows
    # too slow at the deeper timed depth: its interval lies above 1.6
    assert R.verdict(evidence(ratios=(FAST[0], (1.7, 1.8, 1.75, 1.8, 1.7, 1.75)))).verdict == NOT_SUPPORTED
    # the ratio's interval straddles 0.1
    r = R.verdict(evidence(ratio=(0.05, 0.15) * 3))
    assert r.verdict == INCONCLUSIVE and "verification inconclusive" in r.reason
    # the loss difference's interval straddles its margin
    assert R.verdict(evidence(diff=(0.0, 0.4) * 3)).verdict == INCONCLUSIVE
    # backprop's held-out loss around ln 10 = 2.30, a uniform guess's: the comparison did not train
    r = R.verdict(evidence(bp_loss=(2.35, 2.25) * 3))
    assert r.verdict == INCONCLUSIVE and "did not train" in r.reason
    # ... which does not stop a gradient error above its tolerance from being a finding
    assert R.verdict(evidence(bp_loss=(2.35, 2.25) * 3, ratio=(0.2, 0.25) * 3)).verdict == NOT_SUPPORTED
    r = R.verdict(evidence(bp_loss=(None,) + BP_LOSS[1:], rev_loss=list(BP_LOSS)))
    assert r.verdict == INCONCLUSIVE and "backprop training run diverged" in r.reason
    # the time ratio's interval straddles 1.6
    assert R.verdict(evidence(ratios=(FAST[0], (1.4, 1.8, 1.5, 1.7, 1.6, 1.65)))).verdict == INCONCLUSIVE
    assert R.verdict(evidence(res=(100, 120, 150))).verdict == INCONCLUSIVE  # the baseline does not grow


def test_replication_halves_disagree():
    # the second half's seeds carry a gradient error half the minibatch noise: that half is not supported
    j = judge(R.verdict, evidence(ratio=(0.03, 0.04, 0.03, 0.5, 0.55, 0.5)), SEEDS)
    assert [h["verdict"] for h in j["replication"]["halves"]] == [SUPPORTED, NOT_SUPPORTED]
    assert j["replication"]["replicated"] is False
    assert judge(R.verdict, evidence(), SEEDS)["replication"]["replicated"] is True


def test_registered_and_presentable():
    assert CLAIMS["reversible-memory"] is R
    numbers, figs = R.present(evidence())
    assert len(numbers["rows"]) == 7 + 4 + 3 * 2 + 2 + 2 * 2
    assert [p["kind"] for p in figs[0]["panels"]] == ["line", "line", "line"]
    assert [s["y"] for s in figs[1]["panels"][0]["series"]][1] == pytest.approx([2.3, 2.0, 1.05])


def test_minibatch_noise_known_answer():
    v = torch.tensor([3.0, 4.0])
    assert S.minibatch_noise([v, v, v]) == 0.0  # identical batches: no noise
    assert S.minibatch_noise([v, -v]) == pytest.approx(math.sqrt(2) * 5)  # mean 0: (25 + 25) / 1
    g = torch.randn(5, 7, generator=torch.Generator().manual_seed(0))
    assert S.minibatch_noise(list(g)) == pytest.approx(float(g.var(0).sum().sqrt()), rel=1e-6)


def test_gradient_checks_known_answers():
    # a tiny standard net (4 blocks) on digits: the float64 stream reconstructs exactly and its reconstructing
    # backward equals ordinary backprop (the remedy's known answer); float32 backprop sits within float32 rounding
    # of float64 backprop; the ratio is the gradient error over the noise, both relative to the same norm
    s = replace(M.QUICK, verify_blocks=4, train_batch=8, noise_batches=3)
    e = S.verify((s, 0, None))
    assert e["remedy_recon"] == 0.0 and e["remedy_grad"] < 1e-6
    assert 0 < e["fp32_floor"] < 1e-4
    assert 0 < e["noise"] and e["ratio"] == pytest.approx(e["grad"] / e["noise"])
    assert e["grad"] < 1e-3  # 4 blocks of float32 inverses: far from the 102-block error


def test_training_comparison_is_paired():
    # the same init and batches: two ordinary-backprop arms are bit-identical, and the reconstructing arm's first
    # loss (before any update, the forward pass alone) equals backprop's exactly
    run = S.TrainRun(reversible=False, blocks=2, data="digits", data_root=None, steps=3, batch=8, lr=0.05, seed=0)
    a, b, rev = S.train_revnet(run), S.train_revnet(run), S.train_revnet(replace(run, reversible=True))
    assert a == b and len(a["curve"]) == 3 and 0 < a["acc"] <= 1 and math.isfinite(a["loss"])
    assert rev["curve"][0] == a["curve"][0] and rev["loss"] == pytest.approx(a["loss"], rel=1e-3)


def test_full_scale_training_configs_run_a_few_steps(tmp_path, monkeypatch):
    # the FULL training comparison (CIFAR-10 batches of 128) on the fixture folder, 2 steps, 2 blocks (the 102 of
    # the FULL config cost ~1 min per step on this CPU at 32 px; the blocks do not change the config's plumbing)
    monkeypatch.setenv("SKIPLAB_CACHE", str(tmp_path / "cache"))
    ctx = Context(scale="full", seeds=1, data=f"imagefolder:{image_folder(tmp_path / 'imgs')}", max_steps=2,
                  overrides=("verify_blocks=2",))
    s = M.scale_config(ctx)
    assert (M.FULL.train_data, M.FULL.train_batch, M.FULL.verify_blocks, s.train_steps) == ("cifar10", 128, 102, 2)
    jobs = R.runs(ctx)
    assert len(jobs) == 2
    done = execute(jobs, Done(tmp_path / "runs"), say=lambda m: None)
    for j in jobs:
        v = done.value(j)
        assert len(v["curve"]) == 2 and math.isfinite(v["loss"]) and v["diverged_step"] is None
