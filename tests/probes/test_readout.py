"""Readout probes: a zero branch leaves every partial sum equal (flat readout), the last partial sum is the whole
net, plain twins are readable only past their last shape-changing block, and the model is left as found."""

import pytest
import torch
from torch.nn import functional as F

from skiplab.models import create_model
from skiplab.probes import linear_readout, readout

IMG = dict(num_classes=4, in_channels=1, input_size=(8, 8), widths=(4, 8, 8))


def test_zero_branches_give_a_flat_readout():
    torch.manual_seed(0)
    net = create_model("resmlp", depth=4, width=16, in_channels=2, num_classes=3, zero_init=True).eval()
    x, y = torch.randn(64, 2), torch.randint(0, 3, (64,))
    r = readout(net, x, y)
    assert r["available"] == [True] * 5 and len(r["names"]) == 5
    assert max(r["loss"]) - min(r["loss"]) < 1e-6 and len(set(r["error"])) == 1


def test_zero_branches_give_a_flat_readout_with_recalibrated_batch_norm():
    torch.manual_seed(0)
    net = create_model("preresnet20", zero_init=True, **IMG).eval()
    x, y = torch.rand(32, 1, 8, 8), torch.randint(0, 4, (32,))
    r = readout(net, x, y, calibrate_x=torch.rand(64, 1, 8, 8))
    assert "recalibrated" in r["mode"] and all(r["available"])
    # with F = 0 every block outputs its own lesion (the shortcut, downsampling ones included), so every partial
    # sum carried to the head is the same tensor
    assert max(r["loss"]) - min(r["loss"]) < 1e-4


def test_last_partial_sum_is_the_whole_net_and_model_left_as_found():
    torch.manual_seed(0)
    net = create_model("preresnet20", **IMG).train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x, y = torch.rand(16, 1, 8, 8), torch.randint(0, 4, (16,))
    r = readout(net, x, y, calibrate_x=torch.rand(32, 1, 8, 8))
    assert net.training and all(p.requires_grad and p.grad is None for p in net.parameters())
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())
    r = readout(net.eval(), x, y)
    with torch.no_grad():
        assert r["loss"][-1] == pytest.approx(float(F.cross_entropy(net(x), y)), rel=1e-6)


def test_plain_twin_is_readable_only_after_its_last_shape_changing_block():
    torch.manual_seed(0)
    net = create_model("plain-preresnet20", **IMG).eval()
    r = readout(net, torch.rand(8, 1, 8, 8), torch.randint(0, 4, (8,)))
    # blocks 3 and 6 (first of stages 1 and 2) change the shape: partial sums before block 7 cannot reach the head
    assert r["available"] == [False] * 7 + [True] * 3
    assert r["loss"][:7] == [None] * 7 and all(v is not None for v in r["loss"][7:])


def test_linear_readout_decodes_separable_features():
    torch.manual_seed(0)
    net = create_model("resmlp", depth=2, width=16, in_channels=2, num_classes=2, zero_init=True).eval()
    x = torch.randn(200, 2)
    y = (x[:, 0] > 0).long()
    r = linear_readout(net, x[:100], y[:100], x[100:], y[100:])
    assert r["names"] == ["stem", "stages.0.blocks.0", "stages.0.blocks.1"]
    assert max(r["error"]) < 0.1 and len(r["loss"]) == 3
