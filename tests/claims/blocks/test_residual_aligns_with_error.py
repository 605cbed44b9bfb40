"""residual-aligns-with-error: the verdict driven to all three outcomes with synthetic evidence of 6 seeds in both
batch-norm modes, its replication check, the presentation's shape; known answers of the measurement (a branch set
to -eta * grad gives cos 1 in every mode; the derangement null of independent directions sits at its closed form and
aligned pairs lead it by ~1; derangements have no fixed point; fixed batch statistics are eval mode with those
statistics; train-mode batch norm centers the gradient per channel) on tiny nets (no training)."""

import math

import pytest
import torch
from torch import nn

from skiplab.claims import CLAIMS
from skiplab.claims.blocks import residual_aligns_with_error as align
from skiplab.claims.blocks.residual_aligns_with_error import measurement as M
from skiplab.claims.blocks.residual_aligns_with_error import presentation as P
from skiplab.claims.blocks.residual_aligns_with_error.null import (
    derangements,
    null_test,
    pairwise_cosines,
)
from skiplab.claims.blocks.residual_aligns_with_error.rule import FIXED, MARGIN, MODES
from skiplab.claims.core.contract import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED
from skiplab.claims.core.stats import judge
from skiplab.models import create_model
from skiplab.models.blocks import ResidualBlock
from skiplab.models.net import Net
from skiplab.models.parts.layers import ResidualScale

SEEDS = 6
Q99 = 0.01  # a typical null 99th percentile


def state(a, q99=Q99, error=0.05, blocks=3):
    return {"cos": [a] * blocks, "null_mean": [q99 - 0.01] * blocks, "null_q99": [q99] * blocks, "mean_cos": a,
            "null": {"mean": q99 - 0.01, "sd": 0.004, "q99": q99, "k": 1000}, "lead": a - q99,
            "growth": [a] * blocks, "with_stream": [0.1] * blocks, "error": error, "loss": 0.1, "mode": "x"}


def evidence(train, eval_=None, errors=(0.05,) * SEEDS, train_errors=(0.05,) * SEEDS):
    """train / eval_: per seed (A, q99) of the trained net in that mode (eval_ defaults to train's); errors: per
    seed in eval mode (and the fixed-stats mode, which copies eval)."""
    eval_ = train if eval_ is None else eval_
    residual = [{"init": {m: state(0.0) for m in MODES},
                 "trained": {"train": state(*t, error=te), "eval": state(*e, error=ee), FIXED: state(*e, error=ee)}}
                for t, e, te, ee in zip(train, eval_, train_errors, errors)]
    toy = [{"init": state(0.0), "trained": state(0.5), "mse_over_small": 0.01}] * len(train)
    curves = [[{"epoch": 0, "mean_cos": 0.0, "mean_null": 0.0}, {"epoch": 2, "mean_cos": -0.03, "mean_null": 0.0}]]
    return {"depth": 20, "seeds": list(range(len(train))), "modes": list(MODES), "derangements": 1000,
            "residual": residual, "through_training": curves * len(train), "toy": toy, "toy_steps": 5}


ALIGNED = [(0.2, 0.0), (0.15, 0.01), (0.3, -0.01), (0.25, 0.0), (0.2, 0.01), (0.22, 0.0)]
ANTI = [(-0.03 - 0.002 * i, -0.002) for i in range(SEEDS)]  # train mode as measured: slightly anti-aligned
MIXED = [(0.2, 0.0), (0.02, 0.0), (0.3, 0.0), (0.01, 0.0), (0.25, 0.0), (0.03, 0.0)]  # scatters across MARGIN


def test_verdict_needs_both_modes_supported():
    v = align.verdict(evidence(ALIGNED))
    assert v.verdict == SUPPORTED and v.reason.count("6 seeds") == 4
    # eval aligned, train anti-aligned on the same weights: the modes disagree, and one clearly fails
    v = align.verdict(evidence(ANTI, ALIGNED))
    assert v.verdict == NOT_SUPPORTED and "in train mode" in v.reason
    assert align.verdict(evidence(ALIGNED, ANTI)).verdict == NOT_SUPPORTED
    # within the margin of the null's 99th percentile in both modes
    near = [(0.02, 0.0), (0.01, 0.01), (0.03, 0.0), (0.02, 0.01), (0.0, 0.0), (0.01, 0.0)]
    assert align.verdict(evidence(near)).verdict == NOT_SUPPORTED
    # a lead over a very negative null while the cosine itself is negative is not alignment
    assert align.verdict(evidence([(-0.01 - 0.001 * i, -0.2) for i in range(SEEDS)])).verdict == NOT_SUPPORTED
    # one mode supported, the other's lead scatters across the margin: inconclusive, not supported
    assert align.verdict(evidence(MIXED, ALIGNED)).verdict == INCONCLUSIVE
    # an interval that only touches the margin (no spread, exactly at it) does not clear it on either side
    assert align.verdict(evidence([(MARGIN + Q99, Q99)] * SEEDS)).verdict == INCONCLUSIVE


def test_verdict_preconditions():
    v = align.verdict(evidence(ALIGNED, errors=(0.05, 0.6, 0.05, 0.05, 0.05, 0.05)))
    assert v.verdict == INCONCLUSIVE and "precondition" in v.reason and "eval" in v.reason
    v = align.verdict(evidence(ALIGNED, train_errors=(0.05,) * 5 + (0.4,)))
    assert v.verdict == INCONCLUSIVE and "train mode" in v.reason
    assert align.verdict(evidence([(0.2, 0.0), (math.nan, 0.0)] + ALIGNED[2:])).verdict == INCONCLUSIVE
    old = evidence(ALIGNED)  # an earlier measurement: one mode, no "train" entry
    for s in old["residual"]:
        del s["trained"]["train"]
    assert align.verdict(old).verdict == INCONCLUSIVE


def test_replication_halves_disagree():
    # one seed of the second half barely leads the null: that half's 3-seed interval reaches below the margin
    r = judge(align.verdict, evidence(ALIGNED[:4] + [(0.06, 0.0), ALIGNED[5]]), SEEDS)
    assert r["verdict"].verdict == SUPPORTED and r["replication"]["replicated"] is False
    assert len(r["intervals"]) == 4


def test_presentation_follows_the_schema_and_names_the_cause():
    numbers, figures = align.present(evidence(ANTI, ALIGNED))
    assert all(len(row) == len(numbers["columns"]) for row in numbers["rows"])
    assert len(numbers["rows"]) == 2 * len(MODES) + 2
    assert [f["id"] for f in figures] == ["alignment-per-block", "alignment-by-mode", "alignment-through-training"]
    for fig in figures:
        for panel in fig["panels"]:
            assert panel["kind"] == "line"
            assert all(len(s["x"]) == len(s["y"]) and None not in s["y"] for s in panel["series"])
    # fixed statistics equal eval here, so the backward through the statistics is what differs
    assert "backward pass through the batch statistics" in figures[1]["caption"]
    ev = evidence(ANTI, ALIGNED)
    for s in ev["residual"]:
        s["trained"][FIXED] = s["trained"]["train"]
    assert "which statistics the forward uses" in P._why(ev)
    assert "residual-aligns-with-error" in CLAIMS


# ---- the derangement null -------------------------------------------------------------------------------------------

def test_derangements_have_no_fixed_point_and_are_uniform():
    for n in (2, 3, 50):
        p = derangements(n, 200, seed=n)
        assert p.shape == (200, n)
        assert all(sorted(row.tolist()) == list(range(n)) for row in p)
        assert not (p == torch.arange(n)).any()
    assert torch.equal(derangements(10, 5, seed=1), derangements(10, 5, seed=1))
    # n = 3 has exactly two derangements, the two 3-cycles: uniform sampling draws each about half the time
    first = (derangements(3, 2000, seed=0)[:, 0] == 1).double().mean()
    assert abs(float(first) - 0.5) < 4 * math.sqrt(0.25 / 2000)
    with pytest.raises(ValueError):
        derangements(1, 5)


def test_null_of_independent_directions_has_its_closed_form():
    # cos of independent isotropic vectors in D dims has mean 0 and variance 1/D; a derangement's batch mean of N
    # of them is ~ N(0, 1/(N D)), so the null's sd is 1/sqrt(N D) and its 99th percentile 2.326 of those
    n, d, blocks = 256, 64, 3
    g = torch.Generator().manual_seed(0)
    mats = [pairwise_cosines(torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)) for _ in range(blocks)]
    r = null_test(mats, derangements(n, 1000, seed=0))
    sd = 1 / math.sqrt(n * d * blocks)  # the mean over blocks of independent blocks
    assert r["null"]["sd"] == pytest.approx(sd, rel=0.15)
    assert r["null"]["q99"] == pytest.approx(2.326 * sd, abs=0.6 * sd)
    assert abs(r["null"]["mean"]) < 0.2 * sd
    assert abs(r["lead"]) < 6 * sd and r["lead"] < MARGIN  # an unaligned net leads by ~0, never by the margin
    assert len(r["cos"]) == len(r["null_q99"]) == blocks


def test_aligned_pairs_lead_the_null_by_about_one():
    n, d = 128, 32
    g = torch.Generator().manual_seed(1)
    a = torch.randn(n, d, generator=g)
    scale = torch.rand(n, 1, generator=g) + 0.1
    r = null_test([pairwise_cosines(a, scale * a)], derangements(n, 500, seed=0))
    assert r["cos"][0] == pytest.approx(1.0, abs=1e-12) and r["mean_cos"] == pytest.approx(1.0, abs=1e-12)
    assert r["lead"] > 0.9


def test_null_matches_an_explicit_re_pairing():
    g = torch.Generator().manual_seed(2)
    a, b = torch.randn(7, 2, 3, generator=g), torch.randn(7, 2, 3, generator=g)
    perms = derangements(7, 4, seed=3)
    r = null_test([pairwise_cosines(a, b)], perms)
    flat_a, flat_b = a.reshape(7, -1), b.reshape(7, -1)
    explicit = [float(torch.nn.functional.cosine_similarity(flat_a, flat_b[p], dim=1).double().mean()) for p in perms]
    assert r["null"]["mean"] == pytest.approx(sum(explicit) / 4, abs=1e-6)
    assert r["mean_cos"] == pytest.approx(float(torch.nn.functional.cosine_similarity(flat_a, flat_b).mean()),
                                          abs=1e-6)


# ---- the probe on tiny nets -----------------------------------------------------------------------------------------

def half_squared(out, y):
    return 0.5 * ((out - y) ** 2).sum()


def linear_residual(w, d=6):
    """x -> x + w x, identity stem and head. With L = ||x_1||^2 / 2, g = dL/dx_1 = (1 + w) x and F = w x, so
    w = -eta / (1 + eta) makes F = -eta g exactly."""
    lin = nn.Linear(d, d, bias=False).double()
    with torch.no_grad():
        lin.weight.copy_(w * torch.eye(d, dtype=torch.float64))
    block = ResidualBlock(lin, nn.Identity(), ResidualScale(1.0, False))
    return Net(None, nn.Identity(), nn.Identity(), [[block]], nn.Identity()).double()


@pytest.mark.parametrize("w, expected", [(-0.2, 1.0), (0.5, -1.0)])
def test_a_branch_set_to_minus_eta_grad_gives_cos_one_in_every_mode(w, expected):
    net = linear_residual(w)  # w = -0.2 is eta = 0.25; w = 0.5 adds along the gradient (cos -1)
    x = torch.randn(64, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    perms = derangements(64, 200)
    for mode in MODES:
        r = M.probe_mode(net, x, torch.zeros_like(x), mode, perms, loss_fn=half_squared)
        assert r["cos"][0] == pytest.approx(expected, abs=1e-12)
        assert abs(r["null"]["mean"]) < 4 / math.sqrt(6 * 64)  # independent Gaussian directions in 6 dims
        if expected > 0:
            assert r["lead"] > 0.8
        # x_1 = (1 + w) x and -g = -(1 + w) x: growing the stream raises this loss
        assert r["growth"][0] == pytest.approx(-1.0, abs=1e-12)
    assert not net.training


def bn_net():
    torch.manual_seed(0)
    return create_model("resmlp", depth=2, width=8, in_channels=2, num_classes=3, norm="batch").double()


def test_train_mode_centers_the_gradient_and_leaves_the_net_as_found():
    # every path from a block's output to the logits passes a batch norm, so in train mode the loss is invariant
    # to shifting a feature by the same amount for the whole batch: the gradient's batch mean is 0 per feature
    net = bn_net()
    x, y = torch.randn(32, 2, dtype=torch.float64), torch.randint(0, 3, (32,))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    net.train()
    pairs, _, _ = M.block_pairs(net, x, y)
    assert len(pairs) == 2 and all(g.sum(0).abs().max() < 1e-12 * g.abs().max() * 32 for _, g, _ in pairs)
    net.eval()
    pairs, _, _ = M.block_pairs(net, x, y)
    assert any(g.sum(0).abs().max() > 1e-3 * g.abs().max() for _, g, _ in pairs)
    for mode in MODES:
        M.probe_mode(net, x, y, mode, derangements(32, 10))
    assert not net.training and all(p.requires_grad and p.grad is None for p in net.parameters())
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())
    with pytest.raises(ValueError):
        M.probe_mode(net, x, y, "test", derangements(32, 10))


def test_fixed_statistics_are_eval_mode_with_the_batch_statistics():
    # with the running statistics set to this batch's own (biased variance, as train mode normalizes with), eval
    # mode computes the same function as train mode, and its gradient is train mode's without the statistics' terms
    net, x, y = bn_net(), torch.randn(32, 2, dtype=torch.float64), torch.randint(0, 3, (32,))
    from skiplab.models import calibrate_batchnorm
    calibrate_batchnorm(net, x, batch_size=32)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm1d):
            m.running_var.mul_(31 / 32)
    eval_pairs, eval_loss, _ = M.block_pairs(net, x, y)
    net.train()
    with M.fixed_batch_statistics(net):
        fixed_pairs, fixed_loss, _ = M.block_pairs(net, x, y)
    train_pairs, train_loss, _ = M.block_pairs(net, x, y)
    net.eval()
    assert fixed_loss == pytest.approx(eval_loss, rel=1e-10) and train_loss == pytest.approx(eval_loss, rel=1e-10)
    for (fe, ge, _), (ff, gf, _), (_, gt, _) in zip(eval_pairs, fixed_pairs, train_pairs):
        assert torch.allclose(fe, ff, atol=1e-10) and torch.allclose(ge, gf, atol=1e-12)
        assert not torch.allclose(gt, gf, atol=1e-6)  # the statistics' terms are what train mode adds
    assert all("forward" not in m.__dict__ for m in net.modules())  # the patch is undone


def test_identity_test_is_the_literal_cosine_with_the_remaining_error():
    net = linear_residual(0.3)
    x = torch.randn(20, 6, dtype=torch.float64)
    r = M.identity_test(net, x, 2 * x, derangements(20, 100))  # y - x_0 = x and F = 0.3 x: perfectly aligned
    assert r["cos"][0] == pytest.approx(1.0, abs=1e-12) and r["lead"] > 0.5
    assert M.identity_test(net, x, torch.zeros(20, 3, dtype=torch.float64), derangements(20, 10))["cos"] == []
