"""skiplab.flops: known counts (FLOPs = 2 x multiply-adds) of ResNets, grouped and depthwise convolutions (forward
and backward), and RevNets, whose memory-saving backward the counter cannot follow."""

import pytest
import torch
from torch import nn

from skiplab import flops
from skiplab.models import create_model


@pytest.mark.parametrize("name,fwd_bwd", [("resnet20", 242e6), ("resnet56", 752e6), ("resnet110", 1516e6)])
def test_flops_match_the_anchors(name, fwd_bwd):
    """anchors.md: forward + backward FLOPs per 32x32 image (FLOPs = 2 x MACs)."""
    f = flops(create_model(name), (3, 32, 32))
    assert abs(f["forward_backward"] - fwd_bwd) / fwd_bwd < 0.005
    # the forward of ResNet-20 is 40.55M multiply-adds
    if name == "resnet20":
        assert f["forward"] == 81_102_080
    assert "2 x multiply-adds" in f["note"]


class _Shifted(nn.Module):
    """A learnable shift (elementwise: no FLOPs) before `conv`, so the conv's input needs a gradient, as every
    layer but the first does in a net."""

    def __init__(self, conv: nn.Module, channels: int) -> None:
        super().__init__()
        self.shift = nn.Parameter(torch.zeros(channels, 1, 1))
        self.conv = conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x + self.shift)


def test_depthwise_conv_known_counts():
    c, h, w = 8, 12, 10
    forward = 2 * c * 9 * h * w  # per output value: 9 multiply-adds over its own channel only
    inner = flops(_Shifted(nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False), c), (c, h, w))
    assert inner["forward"] == forward
    assert inner["forward_backward"] == 3 * forward  # forward + grad-input + grad-weight, each as costly
    first = flops(nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False), (c, h, w))
    assert first["forward_backward"] == 2 * forward  # the input needs no gradient: grad-weight alone


@pytest.mark.parametrize("groups", [1, 2, 4])
def test_grouped_conv_known_counts(groups):
    cin, cout, k, h, w = 8, 12, 3, 9, 7
    forward = 2 * (cin // groups) * cout * k * k * h * w
    f = flops(_Shifted(nn.Conv2d(cin, cout, k, padding=1, groups=groups), cin), (cin, h, w))
    assert f["forward"] == forward and f["forward_backward"] == 3 * forward


def test_grouped_transposed_conv_known_counts():
    # a transposed conv multiplies each *input* value by a (c_out / g) x k x k slice of the weight
    cin, cout, g, k, h, w = 8, 4, 2, 3, 5, 6
    forward = 2 * h * w * k * k * cin * (cout // g)
    f = flops(_Shifted(nn.ConvTranspose2d(cin, cout, k, stride=2, groups=g, bias=False), cin), (cin, h, w))
    assert f["forward"] == forward and f["forward_backward"] == 3 * forward


def test_effnet_backward_costs_about_twice_its_forward():
    # depthwise convs were counted up to c_in times too high in backward (16.6x the forward); the true ratio is 2
    # for every layer but the stem (whose input needs no gradient: 1), so just under 2 for the whole net
    f = flops(create_model("effnet"), (3, 32, 32))
    ratio = (f["forward_backward"] - f["forward"]) / f["forward"]
    assert 1.9 < ratio <= 2.0


def test_revnet_is_counted_as_ordinary_backprop():
    net = create_model("revnet38")
    f = flops(net, (3, 32, 32))  # the memory-saving backward made torch's module tracker raise AssertionError
    assert net.reversible  # switched back on afterwards
    assert 2.9 < f["forward_backward"] / f["forward"] <= 3.0
    plain = flops(create_model("revnet38", reversible=False), (3, 32, 32))
    assert f == plain  # the same math, so the same count
