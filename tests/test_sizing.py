"""FLOPs of known convolutions against the formula, and the budget helper landing within 5%."""

import pytest
import torch
from torch import nn

from skiplab import flops
from skiplab.errors import ConfigError
from skiplab.sizing import TOLERANCE, closest_to_budget, model_flops, size_to_budget


@pytest.mark.parametrize("c_in,c_out,k,stride,groups,size", [(3, 8, 3, 1, 1, 16), (4, 6, 1, 2, 2, 15),
                                                              (12, 12, 3, 2, 12, 9)])
def test_conv_flops_match_the_formula(c_in, c_out, k, stride, groups, size):
    conv = nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False)
    out = (size + 2 * (k // 2) - k) // stride + 1
    macs = c_out * out * out * (c_in // groups) * k * k  # every output element: (c_in / groups) k^2 multiply-adds
    assert flops(conv, (c_in, size, size), backward=False)["forward"] == 2 * macs
    lin = nn.Linear(10, 7)
    assert flops(lin, (10,), backward=False)["forward"] == 2 * 10 * 7


def test_resolution_scales_flops_of_the_convs():
    f16 = model_flops("effnet", (1, 32, 32), resolution=16, head_mult=0.0)
    f32 = model_flops("effnet", (1, 32, 32), resolution=32, head_mult=0.0)
    # every conv sees 4x the pixels; only the classifier's matmul (and squeeze-excite's 1x1s) does not grow
    assert 3.9 < f32 / f16 < 4.0


def test_budget_helper_lands_within_5_percent():
    shape = (1, 16, 16)
    budget = model_flops("effnet-basic", shape, blocks=(2, 2, 2), widths=(8, 12, 16))
    small = {"blocks": (1, 1, 1), "widths": (8, 12, 16)}
    for name, knob, lo, hi, fixed in (("inception", "width_mult", 0.5, 4.0, {}),
                                      ("effnet", "resolution", 8, 40, small)):  # an int field: integers only
        s = size_to_budget(name, budget, shape, knob, lo, hi, **fixed)
        assert abs(s.error) <= TOLERANCE, (name, knob, s)
        assert s.flops == model_flops(name, shape, **s.overrides)  # the reported FLOPs are the model's
    assert isinstance(s.overrides["resolution"], int)
    rng = torch.random.get_rng_state()
    model_flops("effnet", shape, **small)
    assert torch.equal(rng, torch.random.get_rng_state())  # sizing does not move the caller's random stream


def test_budget_helper_refuses_what_it_cannot_reach():
    shape = (1, 16, 16)
    budget = model_flops("inception", shape) * 100
    with pytest.raises(ConfigError, match="cannot reach"):
        size_to_budget("inception", budget, shape, "width_mult", 0.5, 2.0)
    assert closest_to_budget("inception", budget, shape, "width_mult", 0.5, 2.0).error < -0.5
    with pytest.raises(ConfigError, match="no config field"):
        size_to_budget("effnet", budget, shape, "depth")
