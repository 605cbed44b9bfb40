"""Known answers for the CIFAR ResNet family (He et al. 2016) and its dissection semantics."""

import pytest
import torch

from skiplab.errors import ConfigError
from skiplab.models import ResidualBlock, create_model


@pytest.mark.parametrize("name,count", [("resnet20", 269_722), ("resnet56", 853_018), ("resnet110", 1_727_962)])
def test_parameter_counts_equal_the_paper(name, count):
    assert create_model(name).num_parameters() == count


def test_plain_twin_has_the_same_layers():
    assert create_model("plain56").num_parameters() == create_model("resnet56").num_parameters()


def test_option_b_adds_exactly_two_projections():
    # 1x1 conv 16->32 + BN(32), and 1x1 conv 32->64 + BN(64)
    extra = (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64)
    assert create_model("resnet20", shortcut="B").num_parameters() == 269_722 + extra


def test_learnable_h_adds_one_scalar_per_block():
    assert create_model("resnet20", h_learnable=True).num_parameters() == 269_722 + 9


def test_depth_rule_names_the_nearest_valid_depths():
    with pytest.raises(ConfigError, match=r"6n\+2.*20, 26"):
        create_model("resnet20", depth=21)
    with pytest.raises(ConfigError, match=r"9n\+2"):
        create_model("preresnet164", depth=165)


def test_bottleneck_widths_expand_fourfold():
    net = create_model("preresnet164")
    assert net.head[-1].in_features == 256
    assert sum(1 for _ in net.blocks()) == 54


@pytest.mark.parametrize("name", ["resnet20", "preresnet20", "resnet1d8"])
def test_zero_init_residual_net_is_its_shortcuts(name):
    """With every branch's last norm zeroed, each block outputs its shortcut: the identity inside a stage."""
    torch.manual_seed(0)
    net = create_model(name, zero_init=True).eval()
    size = net.config.input_size
    x = torch.rand(4, net.config.in_channels, *(8 if len(size) == 2 else 40 for _ in size))
    with torch.no_grad():
        h = net.stem(net.normalize(x))
        for _, block in net.blocks():
            h = block.lesion(h)
        assert torch.equal(net.forward_features(x), h)


def test_preact_unrolled_sum_equals_forward():
    """x_L = shortcut-mapped x_0 + sum of increments; inside a stage the shortcut is the identity."""
    torch.manual_seed(0)
    net = create_model("preresnet20").double().eval()
    x = torch.rand(2, 3, 16, 16, dtype=torch.float64)
    with torch.no_grad():
        inter = net.block_outputs(x)
        names = ["stem"] + net.block_names()
        total = inter["stem"]
        for prev, name in zip(names, names[1:]):
            block = dict(net.blocks())[name]
            total = block.shortcut(total) + block.increment(inter[prev])
        assert torch.allclose(total, inter[names[-1]], atol=1e-12)


def test_gate_skip_stops_the_branch_gradient_only():
    torch.manual_seed(0)
    net = create_model("preresnet20").eval()
    name, block = next(net.blocks())
    x = torch.rand(2, 3, 8, 8)
    net(x).sum().backward()
    assert all(p.grad.abs().sum() > 0 for p in block.branch.parameters())
    net.zero_grad(set_to_none=True)
    net.forward_head(net.forward_features(x, gate={name: "skip"})).sum().backward()
    assert all(p.grad is None for p in block.branch.parameters())
    assert net.stem[0].weight.grad.abs().sum() > 0  # the skip path still carries it


def test_post_activation_block_kind_and_lesion():
    net = create_model("resnet8")
    blocks = [b for _, b in net.blocks()]
    assert all(isinstance(b, ResidualBlock) and b.kind == "additive-post" for b in blocks)
    assert {b.kind for _, b in create_model("preresnet20").blocks()} == {"additive"}
    assert {b.kind for _, b in create_model("plain20").blocks()} == {"plain"}


def test_residual_scale_h_zero_leaves_only_shortcuts():
    torch.manual_seed(0)
    net = create_model("preresnet20", h=0.0).eval()
    x = torch.rand(2, 3, 8, 8)
    with torch.no_grad():
        skip_all = net.forward_features(x, skip=set(net.block_names()))
        assert torch.equal(net.forward_features(x), skip_all)


def test_one_dimensional_variant_takes_sequences():
    net = create_model("resnet1d20")
    assert net(torch.rand(5, 1, 40)).shape == (5, 10)


def test_input_normalization_lives_in_the_model():
    net = create_model("resnet8", input_mean=(0.5, 0.5, 0.5), input_std=(0.25, 0.25, 0.25))
    assert net.num_parameters() == create_model("resnet8").num_parameters()
    x = torch.full((1, 3, 4, 4), 0.75)
    assert torch.allclose(net.normalize(x), torch.ones_like(x))
