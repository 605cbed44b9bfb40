"""The ODE-Net family: known parameter count, adjoint vs backprop gradients, NFE counts, saved bytes, the block's
dissection interface and config checks."""

import pytest
import torch

from skiplab.probes.memory import saved_bytes
from skiplab.errors import ConfigError
from skiplab.models import create_model
from skiplab.models.families.odenet import ode_blocks


def small(**kw):
    torch.manual_seed(0)
    return create_model("odenet1d", width=8, groups=4, **kw)


def test_chen_et_al_parameter_count():
    # stem 640 + 2 x (GN 128 + 4x4 conv 65,600) + ODE func (3 GN 384 + 2 ConcatConv 37,504) + head (GN 128 + 650)
    assert create_model("odenet").num_parameters() == 208_266  # Chen et al. report 0.22M
    assert create_model("rknet").num_parameters() == 208_266  # the same net, another solver


def grads(net, x):
    net.zero_grad(set_to_none=True)
    x = x.clone().requires_grad_()
    net(x).logsumexp(1).sum().backward()
    return [x.grad] + [p.grad for p in net.parameters()]


def test_adjoint_and_backprop_gradients_agree():
    # float64, dopri5 at rtol = atol = 1e-10 for the forward and the adjoint solve, smooth dynamics (tanh): the
    # adjoint's gradient is that of the exact flow, backprop's that of the discrete solve; they agree to ~4e-9 of
    # the largest entry. Asserted: 1e-6 relative per entry, or 1e-7 of the tensor's largest entry. With ReLU
    # (Chen et al.'s choice) f has kinks where the continuous adjoint and the discrete gradient part ways: ~1e-3 of
    # the largest entry even at tolerance 1e-10, so the known answer is checked on smooth dynamics.
    x = torch.rand(4, 1, 40, dtype=torch.float64)
    kw = dict(rtol=1e-10, atol=1e-10, activation="tanh")
    adj = grads(small(adjoint=True, **kw).double(), x)
    bp = grads(small(adjoint=False, **kw).double(), x)
    for a, b in zip(adj, bp):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7 * float(b.abs().max()))


@pytest.mark.parametrize("steps", [1, 3, 8])
def test_rk4_makes_four_evaluations_per_step(steps):
    # torchdiffeq's rk4 is the 3/8 rule (rk4_alt_step_func): k1..k4, no extra evaluation with linear interp
    x = torch.rand(2, 1, 40)
    for adjoint in (False, True):
        net = small(method="rk4", steps=steps, adjoint=adjoint)
        (block,) = ode_blocks(net)
        net(x).sum().backward()
        assert (block.solves, block.nfe_forward) == (1, 4 * steps)
        # backprop re-evaluates nothing; the adjoint's reverse RK4 solve evaluates f once per stage again
        assert block.nfe_backward == (4 * steps if adjoint else 0)


def test_eval_passes_are_not_training_solves():
    net = small()
    (block,) = ode_blocks(net)
    net.eval()
    with torch.no_grad():
        net(torch.rand(2, 1, 40))
    assert block.solves == block.nfe_forward == block.nfe_backward == 0


def test_saved_bytes_linear_for_backprop_flat_for_adjoint():
    x, y = torch.rand(4, 1, 40), torch.tensor([0, 1, 2, 3])
    steps = (1, 2, 4, 8)

    def curve(adjoint):
        out = []
        for n in steps:
            net = small(method="rk4", steps=n, adjoint=adjoint)
            out.append(saved_bytes(lambda: torch.nn.functional.cross_entropy(net(x), y)))
        return out
    bp, adj = curve(False), curve(True)
    per_step = bp[1] - bp[0]
    assert per_step > 0 and all(b - bp[0] == (n - 1) * per_step for n, b in zip(steps, bp))  # exactly affine
    assert len(set(adj)) == 1 and adj[0] < bp[0]  # the adjoint keeps the same bytes at every number of steps


def test_block_interface():
    net = small()
    (name, block), = net.blocks()
    assert block.kind == "continuous" and block.lesionable
    x = torch.randn(3, 8, 10)
    assert torch.equal(block.lesion(x), x)
    xs = torch.rand(2, 1, 40)
    assert torch.equal(net.forward_features(xs, skip={name}), net.stem(net.normalize(xs)))
    torch.testing.assert_close(block(x), x + block.increment(x))
    # gates route the gradient: "skip" leaves only the identity's, "branch" only the increment's
    for gate, expect in (("skip", lambda g: torch.ones_like(g)), ("branch", lambda g: g - 1)):
        full = x.clone().requires_grad_()
        block(full).sum().backward()
        gated = x.clone().requires_grad_()
        out = block(gated, gate)
        assert torch.equal(out, block(x))
        out.sum().backward()
        torch.testing.assert_close(gated.grad, expect(full.grad))
    with pytest.raises(ValueError):
        block(x, "nope")


@pytest.mark.parametrize("kw", [dict(method="rk5"), dict(method="rk4"), dict(method="dopri5", steps=4),
                                dict(input_size=(8, 8))])
def test_bad_configs_are_refused(kw):
    with pytest.raises(ConfigError):
        create_model("odenet1d", **kw)
