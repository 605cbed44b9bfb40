"""The Lipschitz budget (models/families/lipschitz.py): after training steps that push the weights, every branch's bound
(recomputed by the probe from the effective weights) is within the budget c, so the certified bound holds: no
input gradient exceeds it, and no example certified at an L2 epsilon is broken by PGD."""

import pytest
import torch

from skiplab.attacks import standard_attacks, worst_of
from skiplab.errors import ConfigError
from skiplab.models import create_model
from skiplab.models.families.lipschitz import budgeted, tighten
from skiplab.probes.lipschitz import certified_accuracy, lipschitz_bounds, margin_gradients


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def tiny(budget, **kw):
    torch.manual_seed(0)
    return create_model("lipresnet20", depth=8, widths=(4, 6, 8), in_channels=1, num_classes=3, input_size=(6, 6),
                        budget=budget, **kw)


@pytest.mark.parametrize("budget", [0.3, 2.0])
def test_budget_holds_after_training_and_certifies(budget):
    net = tiny(budget)
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(64, 1, 6, 6, generator=g), torch.randint(0, 3, (64,), generator=g)
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    for _ in range(15):  # large steps: the raw weights grow well past the budget
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    raw = max(float(layer.parametrizations.weight.original.detach().norm()) for layer, _ in budgeted(net))
    net.eval()
    tighten(net)
    b = lipschitz_bounds(net, x[:1])
    assert len(budgeted(net)) == 2 * 3 + 2 and raw > budget  # 3 blocks x 2 convs, stem and head
    for blk in b["blocks"]:
        assert blk["branch"] <= budget * (1 + 1e-6)
        assert blk["block"] <= 1 + budget * (1 + 1e-6)
    assert b["stem"] <= 1 + 1e-6 and b["head"] <= 1 + 1e-6
    assert margin_gradients(net, x, y)["lower_bound"] <= b["total"]
    eps = [0.0, 0.02, 0.05]
    pred = net(x).argmax(1).detach()
    for e, c in zip(eps, certified_accuracy(net, x, pred, b["total"], eps)):
        assert worst_of(net, x, pred, e, standard_attacks("l2", steps=5))["accuracy"] >= c


def test_eval_mode_is_a_fixed_function_and_checkpoints_round_trip():
    net = tiny(0.5).eval()
    x = torch.rand(4, 1, 6, 6)
    a = net(x)
    assert torch.equal(a, net(x))  # no power-iteration update in eval mode
    other = tiny(0.5)
    other.load_state_dict(net.state_dict())
    assert torch.equal(other.eval()(x), a)


def test_budget_config_refuses_what_it_cannot_bound():
    with pytest.raises(ConfigError, match="norm"):
        tiny(1.0, norm="batch")
    with pytest.raises(ConfigError, match="budget"):
        tiny(0.0)
    with pytest.raises(ConfigError, match="Lipschitz"):
        tiny(1.0, activation="gelu")
