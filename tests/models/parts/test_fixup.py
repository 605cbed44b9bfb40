"""Fixup (Zhang et al. 2019): every branch outputs exactly 0 at init, the classifier starts at 0, the branch
layers carry the L^(-1/(2m-2)) factor, and the net still trains."""

import pytest
import torch

from skiplab.errors import ConfigError
from skiplab.models import create_model

CASES = [("resmlp", dict(depth=9, norm="none")),
         ("resnet20", dict(norm="none", input_size=(8, 8))),
         ("preresnet20", dict(norm="none", input_size=(8, 8)))]


@pytest.mark.parametrize("name,args", CASES)
def test_every_branch_outputs_zero_at_init(name, args):
    torch.manual_seed(0)
    net = create_model(name, init="fixup", **args)
    x = torch.randn(4, net.config.in_channels, *net.config.input_size)
    with torch.no_grad():
        inter = net.block_outputs(x)
        names = ["stem"] + net.block_names()
        for prev, nm in zip(names, names[1:]):
            block = dict(net.blocks())[nm]
            assert torch.count_nonzero(block.branch(inter[prev])) == 0, nm
        assert torch.count_nonzero(net(x)) == 0  # zero classifier


def test_branch_scaling_factor():
    torch.manual_seed(0)
    plain = create_model("resmlp", depth=16, width=256, norm="none")
    fix = create_model("resmlp", depth=16, width=256, norm="none", init="fixup")
    first = [m for m in dict(fix.blocks())["stages.0.blocks.0"].branch if isinstance(m, torch.nn.Linear)][0]
    # He normal std is sqrt(2 / 256); with L = 16 branches of m = 2 layers the factor is 16^(-1/2)
    assert abs(first.weight.std().item() - (2 / 256) ** 0.5 / 4) < 0.004
    assert fix.num_parameters() > plain.num_parameters()  # the scalar biases and multipliers


def test_defaults_keep_parameter_counts():
    assert create_model("resnet110").num_parameters() == 1_727_962


def test_fixup_needs_a_norm_free_residual_net():
    with pytest.raises(ConfigError):
        create_model("resnet20", init="fixup")  # batch norm
    with pytest.raises(ConfigError):
        create_model("plainmlp", init="fixup")


@pytest.mark.parametrize("name,args", CASES[:2])
def test_fixup_net_trains_on_a_toy_batch(name, args):
    torch.manual_seed(0)
    net = create_model(name, init="fixup", num_classes=3, **args)
    x = torch.randn(32, net.config.in_channels, *net.config.input_size)
    y = (x.flatten(1) @ torch.randn(x[0].numel(), 3)).argmax(1)  # a learnable (linear) labelling
    opt = torch.optim.SGD(net.parameters(), lr=0.03, momentum=0.9)
    losses = []
    for _ in range(40):
        loss = torch.nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.85 * losses[0]  # it learns: the zero branches and classifier get gradients
