"""Highway networks (Srivastava et al. 2015): gate limits, lesions, gates and the two skeletons."""

import pytest
import torch

from skiplab.errors import ConfigError
from skiplab.models import create_model
from skiplab.models.families.highway import GatedBlock


def gated(net):
    return [(n, b) for n, b in net.blocks() if isinstance(b, GatedBlock)]


@pytest.mark.parametrize("name", ["highway20", "highwaymlp"])
def test_gate_saturation_limits(name):
    """b_T -> -inf: T = 0 and every gated block is the identity; b_T -> +inf: T = 1 and y = H(x)."""
    torch.manual_seed(0)
    shape = (4, 3, 8, 8) if name == "highway20" else (4, 2)
    x = torch.rand(*shape)
    with torch.no_grad():
        for bias, expect in ((-1e4, lambda b, h: h), (1e4, lambda b, h: b.branch(h))):
            net = create_model(name, gate_bias=bias).eval()
            h = net.stem(net.normalize(x))
            for _, block in net.blocks():
                y = block(h)
                if isinstance(block, GatedBlock):
                    assert torch.equal(block.gate(h), torch.full_like(h, float(bias > 0)))
                    assert torch.equal(y, expect(block, h))
                h = y


def test_gate_bias_is_the_initial_bias_and_gates_start_mostly_closed():
    torch.manual_seed(0)
    net = create_model("highway20").eval()
    blocks = gated(net)
    assert len(blocks) == 7  # 9 blocks, 2 of them plain stride-2 transitions
    assert all(torch.all(b.gate_layer.bias == -2.0) for _, b in blocks)
    x = torch.rand(2, 3, 8, 8)
    with torch.no_grad():
        h = net.stem(net.normalize(x))
        assert blocks[0][1].gate(h).mean() < 0.5


def test_lesion_and_increment():
    torch.manual_seed(0)
    net = create_model("highwaymlp", depth=3).double().eval()
    x = torch.randn(5, 2, dtype=torch.float64)
    name, block = gated(net)[1]
    with torch.no_grad():
        inter = net.block_outputs(x)
        h = inter[net.block_names()[0]]
        assert torch.equal(block.lesion(h), h)
        assert torch.allclose(h + block.increment(h), inter[name], atol=1e-12)


def test_gates_split_the_jacobian():
    """d y / d x with gate "skip" is diag(1 - T); "skip" + "branch" gives the full Jacobian."""
    torch.manual_seed(0)
    net = create_model("highwaymlp", width=6).double()
    block = gated(net)[0][1]
    x = torch.randn(1, 6, dtype=torch.float64)
    jac = {g: torch.autograd.functional.jacobian(lambda v: block(v, g), x)[0, :, 0] for g in (None, "skip", "branch")}
    with torch.no_grad():
        assert torch.allclose(jac["skip"], torch.diag(1 - block.gate(x)[0]))
    assert torch.allclose(jac["skip"] + jac["branch"], jac[None], atol=1e-12)
    with torch.no_grad():
        assert torch.equal(block(x, "skip"), block(x)) and torch.equal(block(x, "branch"), block(x))


def test_gate_skip_stops_branch_and_gate_gradients():
    torch.manual_seed(0)
    net = create_model("highway20")
    name, block = gated(net)[0]
    x = torch.rand(2, 3, 8, 8)
    net.forward_head(net.forward_features(x, gate={name: "skip"})).sum().backward()
    assert all(p.grad is None for p in block.parameters())
    assert net.stem[0].weight.grad.abs().sum() > 0


def n_convs(net):
    return sum(isinstance(m, torch.nn.Conv2d) for _, b in net.blocks() for m in b.branch.modules())


def test_depth_matches_the_resnet_twin():
    for depth in (20, 56):
        hw, rn = create_model(f"highway{depth}"), create_model(f"resnet{depth}")
        assert n_convs(hw) == n_convs(rn) == depth - 2
        assert hw.block_names() == rn.block_names()
    assert create_model("highway20", branch="single", depth=11).num_parameters() > 0
    with pytest.raises(ConfigError, match="6n\\+2"):
        create_model("highway20", depth=21)
    with pytest.raises(ConfigError, match="gate_kernel"):
        create_model("highway20", gate_kernel=2)


def test_transitions_are_plain_and_not_lesionable():
    net = create_model("highway20")
    kinds = {n: b.kind for n, b in net.blocks()}
    assert kinds["stages.1.blocks.0"] == kinds["stages.2.blocks.0"] == "plain"
    assert {k for n, k in kinds.items() if not n.endswith("blocks.0") or n.startswith("stages.0")} == {"gated"}
    assert not dict(net.blocks())["stages.1.blocks.0"].lesionable


def test_graph_has_gate_nodes():
    g = create_model("highwaymlp", depth=2).graph()
    assert g.has_edge("stages.0.blocks.0.gate", "stages.0.blocks.0.mix")
    assert g.edges["stages.0.blocks.0.mix", "stages.0.blocks.1.mix"]["path"] == "skip"
