"""Alignment probe: known answers (a branch equal to -eta * grad gives cos 1), the random-vector baseline, the
shuffled-pairing null, and a model left as found."""

import math

import pytest
import torch
from torch import nn

from skiplab.models import create_model
from skiplab.models.blocks import ResidualBlock
from skiplab.models.parts.layers import ResidualScale
from skiplab.models.net import Net
from skiplab.probes import AlignmentCallback, alignment, cosine_rows, identity_alignment
from skiplab.probes.alignment import derangement

from .test_gradients import blobs, small_fit


def half_squared(out, y):
    return 0.5 * ((out - y) ** 2).sum()


def linear_residual(w_scale, d=6):
    """x -> x + W x with W = w_scale * I, identity stem and head: a net whose F and dL/dx_1 are known in closed
    form. With L = ||x_1||^2 / 2, g = dL/dx_1 = (1 + w) x and F = w x, so w = -eta / (1 + eta) makes F = -eta g."""
    lin = nn.Linear(d, d, bias=False).double()
    with torch.no_grad():
        lin.weight.copy_(w_scale * torch.eye(d, dtype=torch.float64))
    block = ResidualBlock(lin, nn.Identity(), ResidualScale(1.0, False))
    return Net(None, nn.Identity(), nn.Identity(), [[block]], nn.Identity()).double()


def test_cosine_of_minus_eta_grad_is_one():
    g = torch.randn(5, 3, 4, dtype=torch.float64)
    assert torch.allclose(cosine_rows(-0.1 * g, -g), torch.ones(5, dtype=torch.float64))
    assert torch.equal(cosine_rows(torch.zeros(2, 3), torch.ones(2, 3)), torch.zeros(2, dtype=torch.float64))


@pytest.mark.parametrize("w, expected", [(-0.2, 1.0), (0.5, -1.0)])
def test_a_branch_set_to_minus_eta_grad_gives_cos_one(w, expected):
    # w = -0.2 is eta = 0.25: F = -0.25 dL/dx_1 exactly; w = 0.5 adds along the gradient (cos -1)
    net = linear_residual(w)
    x = torch.randn(32, 6, dtype=torch.float64)
    r = alignment(net, x, torch.zeros_like(x), loss=half_squared)
    assert r["names"] == ["stages.0.blocks.0"] and r["skipped"] == {}
    assert r["cos"][0] == pytest.approx(expected, abs=1e-12) and r["cos_std"][0] < 1e-12
    # the null pairs F of one example with g of another: independent Gaussian directions in 6 dims
    assert abs(r["null"][0]) < 4 * math.sqrt(1 / 6 / 32)


def test_random_vectors_have_cosine_about_one_over_sqrt_d():
    g = torch.Generator().manual_seed(0)
    for d in (16, 256):
        c = cosine_rows(torch.randn(4000, d, generator=g), torch.randn(4000, d, generator=g))
        # E[cos^2] = 1/d exactly for independent isotropic vectors; 4000 samples leave ~3% relative error
        assert math.sqrt(float((c ** 2).mean())) == pytest.approx(1 / math.sqrt(d), rel=0.08)
        assert abs(float(c.mean())) < 4 / math.sqrt(d * 4000)


def test_shuffled_null_is_near_zero_for_independent_data_and_has_no_fixed_point():
    for n in (2, 3, 50):
        p = derangement(n, seed=n)
        assert sorted(p.tolist()) == list(range(n)) and not (p == torch.arange(n)).any()
    torch.manual_seed(0)
    net = create_model("resmlp", depth=3, width=32, in_channels=2, num_classes=3).double()
    x, y = torch.randn(400, 2, dtype=torch.float64), torch.randint(0, 3, (400,))
    r = alignment(net.eval(), x, y)
    assert len(r["names"]) == 3
    for null, sd in zip(r["null"], r["null_std"]):
        assert abs(null) < 4 * sd / math.sqrt(400) + 0.02


def test_plain_blocks_are_skipped_and_the_model_is_left_as_found():
    torch.manual_seed(0)
    plain = create_model("plainmlp", depth=2, width=8, in_channels=2, num_classes=3)
    r = alignment(plain, torch.randn(8, 2), torch.randint(0, 3, (8,)))
    assert r["names"] == [] and set(r["skipped"].values()) == {"plain"}
    net = create_model("resmlp", depth=2, width=8, in_channels=2, num_classes=3, norm="batch").train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    r = alignment(net, torch.randn(8, 2), torch.randint(0, 3, (8,)))
    assert r["mode"] == "train (batch statistics)" and net.training
    assert all(p.requires_grad and p.grad is None for p in net.parameters())
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())
    with pytest.raises(ValueError):
        alignment(net, torch.randn(1, 2), torch.zeros(1, dtype=torch.long))


def test_identity_alignment_is_the_literal_cosine_with_the_remaining_error():
    net = linear_residual(0.3)
    x = torch.randn(20, 6, dtype=torch.float64)
    r = identity_alignment(net, x, 2 * x)  # y - x_0 = x and F = 0.3 x: perfectly aligned
    assert r["cos"][0] == pytest.approx(1.0, abs=1e-12)
    r = identity_alignment(net, x, torch.zeros(20, 3, dtype=torch.float64))
    assert r["names"] == [] and "shape" in r["skipped"]["stages.0.blocks.0"]


def test_callback_records_init_and_every_epoch():
    data = blobs()
    cb = AlignmentCallback(data.train_x[:40], data.train_y[:40])
    small_fit(data, [cb], norm="batch")
    assert [r["epoch"] for r in cb.records] == [0, 1, 2]
    assert all(len(r["alignment"]["cos"]) == 2 for r in cb.records)
