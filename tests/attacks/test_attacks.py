"""Known answers of the attacks: a linear model's exact worst case is reached (eps times the dual norm of the weight
difference), epsilon 0 is clean accuracy, perturbations stay in the ball and the pixel range, the worst-of
accuracy is monotone in epsilon, and batch norm is used in eval mode and left as found."""

import pytest
import torch
from torch import nn

from skiplab.attacks import Attack, fgsm, pgd, robust_curve, standard_attacks, worst_of
from skiplab.models import calibrate_batchnorm, create_model


def linear_net(d=6, k=2, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(d, k)).double()


def interior_batch(n=32, d=6, seed=1):
    """Inputs in [0.4, 0.6]: a ball of radius <= 0.1 (L-inf) never meets the pixel range, so the exact worst case
    is the unclipped one."""
    g = torch.Generator().manual_seed(seed)
    return 0.4 + 0.2 * torch.rand(n, d, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("norm,dual", [("linf", 1), ("l2", 2)])
def test_linear_model_exact_worst_case_is_reached(norm, dual):
    net, x = linear_net(), interior_batch()
    eps = 0.05 if norm == "linf" else 0.08  # L2 0.08 < 0.1: the ball stays inside [0, 1]^6
    w, b = net[1].weight.detach(), net[1].bias.detach()
    y = (x @ w.T + b).argmax(1)  # correctly classified, so the margin is positive
    dw = (w[y] - w[1 - y]).norm(p=dual, dim=1)  # dual norm of the weight difference
    m0 = ((x @ w.T + b).gather(1, y[:, None]) - (x @ w.T + b).gather(1, (1 - y)[:, None])).squeeze(1)
    exact = m0 - eps * dw
    def margin(xa):
        z = xa @ w.T + b
        return (z.gather(1, y[:, None]) - z.gather(1, (1 - y)[:, None])).squeeze(1)

    # FGSM and PGD from x reach the exact minimum margin; from a random start PGD approaches it (within 5% of the
    # drop eps * ||dw||: the start's part orthogonal to the gradient shrinks with each projection) and, staying in
    # the ball, never passes it.
    for xa in (fgsm(net, x, y, eps, norm), pgd(net, x, y, eps, norm, steps=20, random_init=False)):
        assert torch.allclose(margin(xa), exact, atol=1e-12, rtol=0)
    m = margin(pgd(net, x, y, eps, norm, steps=20, restarts=2))
    assert (m >= exact - 1e-12).all() and (m - exact <= 0.05 * eps * dw).all()
    r = worst_of(net, x, y, eps, standard_attacks(norm))
    assert r["accuracy"] == pytest.approx(float((exact > 0).double().mean()))


def small_cnn(seed=0):
    torch.manual_seed(seed)
    net = create_model("resnet8", in_channels=1, num_classes=3, input_size=(6, 6), widths=(4, 4, 4))
    x = torch.rand(40, 1, 6, 6, generator=torch.Generator().manual_seed(2))
    calibrate_batchnorm(net, x)
    return net, x, net(x).argmax(1).detach()


def test_eps_zero_is_clean_accuracy():
    net, x, _ = small_cnn()
    y = torch.arange(len(x)) % 3
    clean = float((net(x).argmax(1) == y).float().mean())
    for a in standard_attacks("linf") + standard_attacks("l2"):
        assert torch.equal(a(net, x, y, 0.0), x)
    assert worst_of(net, x, y, 0.0, standard_attacks("l2"))["accuracy"] == clean
    assert robust_curve(net, x, y, [0.0], standard_attacks("linf"))["accuracy"] == [clean]


@pytest.mark.parametrize("norm,eps", [("linf", 0.1), ("l2", 0.5)])
def test_perturbations_stay_in_ball_and_pixel_range(norm, eps):
    net, x, y = small_cnn()
    x = x.clamp(0.05, 0.95)
    x[:5] = 0.0  # examples at the edge of the range: clipping must bind there
    for a in standard_attacks(norm, steps=5, restarts=2):
        xa = a(net, x, y, eps)
        d = (xa - x).flatten(1)
        size = d.abs().amax(1) if norm == "linf" else d.norm(dim=1)
        assert (size <= eps * (1 + 1e-6)).all() and xa.min() >= 0 and xa.max() <= 1
        assert (size > 0).any()  # it did move


def test_pgd_beats_or_matches_clean_and_curve_is_monotone():
    net, x, y = small_cnn()
    eps = [0.0, 0.02, 0.05, 0.1, 0.2, 0.4]
    c = robust_curve(net, x, y, eps, standard_attacks("linf", steps=5))
    acc = c["accuracy"]
    assert acc[0] == c["clean"] == 1.0 and all(a >= b for a, b in zip(acc, acc[1:])) and acc[-1] < 1.0
    for label, per in c["per_attack"].items():  # the worst case is never better than any single attack
        assert all(w <= p for w, p in zip(acc, per)), label
    with pytest.raises(ValueError, match="ascending"):
        robust_curve(net, x, y, [0.1, 0.0], standard_attacks("linf"))
    with pytest.raises(ValueError, match="one norm"):
        robust_curve(net, x, y, [0.1], standard_attacks("linf") + standard_attacks("l2"))


def test_batch_norm_in_eval_mode_and_model_left_as_found():
    net, x, y = small_cnn()
    net.train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    seen = []
    bn = next(m for m in net.modules() if isinstance(m, nn.BatchNorm2d))
    h = bn.register_forward_pre_hook(lambda m, a: seen.append(m.training))
    pgd(net, x, y, 0.1, steps=3)
    h.remove()
    assert seen and not any(seen)  # every forward of the attack used running statistics
    assert net.training and all(m.training for m in net.modules())
    assert all(p.requires_grad and p.grad is None for p in net.parameters())
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_bad_arguments():
    net, x, y = small_cnn()
    with pytest.raises(ValueError, match="norm"):
        fgsm(net, x, y, 0.1, norm="l1")
    with pytest.raises(ValueError, match="epsilon"):
        pgd(net, x, y, -0.1)
    with pytest.raises(ValueError, match="step_rule"):
        pgd(net, x, y, 0.1, step_rule="adaptive")
    with pytest.raises(ValueError):
        Attack("cw")
