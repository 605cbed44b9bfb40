"""APGD-CE / APGD-T and the strong evaluation: known answers on linear models (the exact worst case over the ball is
closed-form), the paper's checkpoint schedule, the fixed L2 random start, the strong evaluation never above the cheap
attacks, perturbations in the ball and the pixel range; and, where torchattacks is installed, agreement with it."""

import itertools

import pytest
import torch
from torch import nn

from skiplab.attacks import (
    Attack,
    apgd,
    apgd_targeted,
    checkpoints,
    robust_curve,
    standard_attacks,
    strong_attacks,
    strong_curve,
    worst_of,
)
from skiplab.attacks._common import boundary_start, random_start

CASES = [("linf", 1, 0.04), ("l2", 2, 0.25)]  # x in [0.3, 0.7]: both balls stay inside [0, 1]^20, no clipping


def linear_case(k, d=20, n=64, seed=0):
    """A linear classifier and inputs it classifies as y = argmax; the exact lowest margin over the eps-ball is
    min_{j != y} (z_y - z_j) - eps * ||w_y - w_j||_dual (dual: 1 for L-inf, 2 for L2)."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Flatten(), nn.Linear(d, k)).double()
    x = 0.3 + 0.4 * torch.rand(n, d, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64)
    w, b = net[1].weight.detach(), net[1].bias.detach()
    z = x @ w.T + b
    y = z.argmax(1)

    def margin(xa):
        zz = xa @ w.T + b
        return zz.gather(1, y[:, None]).squeeze(1) - zz.scatter(1, y[:, None], float("-inf")).amax(1)

    def exact(eps, dual):
        per = torch.stack([z.gather(1, y[:, None]).squeeze(1) - z[:, j] - eps * (w[y] - w[j]).norm(p=dual, dim=1)
                           for j in range(k)], 1)
        return per.scatter(1, y[:, None], float("inf")).amin(1)

    return net, x, y, margin, exact


def test_checkpoints_are_the_papers():
    # p = 0.22, 0.41, 0.57, 0.70, 0.80, 0.87, 0.93, 0.99 (periods shrinking by 0.03 down to 0.06)
    assert checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]
    assert checkpoints(10) == [3, 5, 6, 7, 8, 9]
    assert checkpoints(1) == []


@pytest.mark.parametrize("norm,dual,eps", CASES)
def test_apgd_ce_reaches_the_exact_worst_case_of_a_binary_linear_model(norm, dual, eps):
    net, x, y, margin, exact = linear_case(2)
    ex = exact(eps, dual)
    assert 0 < (ex < 0).sum() < len(ex)  # some examples fooled, some not: the case is not degenerate
    scale = eps * net[1].weight.detach().norm(p=dual, dim=1).max()
    # L2 from a random point of the sphere: each projected step turns the direction geometrically towards the
    # optimum, so 10 steps leave a residue (~2e-7 of the drop here) and 100 steps none.
    for steps, tol in ((100, 1e-9), (10, 1e-6)):
        m = margin(apgd(net, x, y, eps, norm, steps))
        assert (m >= ex - 1e-12).all() and torch.allclose(m, ex, rtol=0, atol=tol * float(scale))


@pytest.mark.parametrize("norm,dual,eps", CASES)
def test_apgd_t_finds_exactly_the_fooled_examples_of_a_multiclass_linear_model(norm, dual, eps):
    net, x, y, margin, exact = linear_case(5)
    ex = exact(eps, dual)
    scale = float(eps * net[1].weight.detach().norm(p=dual, dim=1).max())
    assert 0 < (ex < 0).sum() < len(ex) and (ex.abs() > 1e-3 * scale).all()  # no example on the fence
    m = margin(apgd_targeted(net, x, y, eps, norm, 100, targets=4))
    assert (m >= ex - 1e-9 * scale).all()  # never beyond the ball's exact optimum
    assert torch.equal(m < 0, ex < 0)
    # The strong evaluation's worst case is the exact robust accuracy.
    r = strong_curve(net, x, y, [eps], norm, targets=4)
    assert r["accuracy"] == [pytest.approx(float((ex > 0).double().mean()))]


def test_l2_random_start_radius_is_uniform_in_zero_eps():
    x = torch.zeros(4000, 64, dtype=torch.float64)
    d = random_start(x, 0.5, "l2", torch.Generator().manual_seed(0))
    r = d.norm(dim=1) / 0.5
    # Uniform in [0, 1]: mean 1/2, median 1/2 (4000 draws: standard error 0.005); uniform in volume had mean 64/65.
    assert r.max() <= 1 + 1e-12 and abs(float(r.mean()) - 0.5) < 0.02 and abs(float(r.median()) - 0.5) < 0.03
    u = d / d.norm(dim=1, keepdim=True)  # directions uniform: no preferred one
    assert float(u.mean(0).norm()) < 0.05
    b = boundary_start(x, 0.5, "l2", torch.Generator().manual_seed(0))
    assert torch.allclose(b.norm(dim=1), torch.full((4000,), 0.5, dtype=torch.float64))
    b = boundary_start(x, 0.1, "linf", torch.Generator().manual_seed(0))
    assert torch.allclose(b.abs().amax(1), torch.full((4000,), 0.1, dtype=torch.float64)) and b.abs().max() <= 0.1


def small_mlp(classes=5, seed=0):
    """A small MLP fit for 100 Adam steps to a random labelling of 60 points: nonlinear, mostly right, not robust."""
    torch.manual_seed(seed)
    x = torch.rand(60, 1, 4, 4, generator=torch.Generator().manual_seed(seed + 7))
    y = torch.arange(60) % classes
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, classes))
    opt = torch.optim.Adam(net.parameters(), 0.03)
    for _ in range(100):
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    return net.eval(), x, y


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("norm,eps", [("linf", 0.06), ("l2", 0.2)])
def test_strong_evaluation_is_never_above_a_weaker_attack(norm, eps, seed):
    net, x, y = small_mlp(seed=seed)
    kw = {"steps": 20, "restarts": 2, "apgd_steps": 20, "targets": 4}
    c = strong_curve(net, x, y, [0.0, eps], norm, seed=seed, **kw)
    weak = worst_of(net, x, y, eps, standard_attacks(norm), seed=seed)
    assert c["accuracy"][0] == c["clean"] and weak["accuracy"] < c["clean"]
    # Never above the cheap attacks (by construction); on these seeded nets strictly below (by 2 to 5 of 60).
    assert c["accuracy"][1] < weak["accuracy"]
    for label, acc in weak["per_attack"].items():
        assert c["per_attack"][label][1] == acc and c["accuracy"][1] <= acc
    run = [v[1] for v in c["cascade"].values()]
    assert all(a >= b for a, b in itertools.pairwise(run)) and run[-1] == c["accuracy"][1]
    # Deterministic attacks fool the same examples whichever subset they run on: the cascade is at most each of them.
    zero = [Attack("pgd", norm, 20, random_init=False), Attack("pgd", norm, 10, loss="margin", random_init=False)]
    for a in (Attack("fgsm", norm), *zero):
        assert c["accuracy"][1] <= worst_of(net, x, y, eps, [a], seed=seed)["accuracy"]


@pytest.mark.parametrize("norm,eps", [("linf", 0.1), ("l2", 0.5)])
def test_apgd_stays_in_ball_and_pixel_range(norm, eps):
    net, x, y = small_mlp()
    x = x.clamp(0.05, 0.95)
    x[:5] = 0.0  # at the edge of the range: the clip must bind
    for xa in (apgd(net, x, y, eps, norm, 10, restarts=2), apgd(net, x, y, eps, norm, 10, loss="dlr"),
               apgd_targeted(net, x, y, eps, norm, 10, targets=2)):
        d = (xa - x).flatten(1)
        size = d.abs().amax(1) if norm == "linf" else d.norm(dim=1)
        assert (size <= eps * (1 + 1e-6)).all() and xa.min() >= 0 and xa.max() <= 1 and (size > 0).any()
    assert torch.equal(apgd(net, x, y, 0.0, norm), x) and torch.equal(apgd_targeted(net, x, y, 0.0, norm), x)


def test_apgd_labels_and_bad_arguments():
    labels = [a.label for a in strong_attacks("l2")]
    assert labels == ["pgd50x1-l2-ce-fixed-noinit", "pgd50x3-l2-ce-fixed", "apgd100x1-l2-ce", "apgdt100x1x9-l2-dlr"]
    net, x, y = small_mlp(classes=3)
    with pytest.raises(ValueError, match="4 classes"):
        apgd_targeted(net, x, y, 0.1)
    with pytest.raises(ValueError, match="APGD loss"):
        apgd(net, x, y, 0.1, loss="margin")
    with pytest.raises(ValueError, match="steps"):
        apgd(net, x, y, 0.1, steps=0)
    with pytest.raises(ValueError, match="one norm"):
        robust_curve(net, x, y, [0.1], standard_attacks("linf"), then=strong_attacks("l2"))
    with pytest.raises(ValueError):
        Attack("square")


@pytest.mark.parametrize("norm,eps", [("linf", 0.05), ("l2", 0.3)])
def test_apgd_agrees_with_torchattacks(norm, eps):
    ta = pytest.importorskip("torchattacks")  # not a dependency; see benchmarks/attack_reference.py
    net, x, y = small_mlp(classes=5)
    ta_norm = "Linf" if norm == "linf" else "L2"

    def acc(xa):
        return float((net(xa).argmax(1) == y).float().mean())

    mine = acc(apgd(net, x, y, eps, norm, 50))
    theirs = acc(ta.APGD(net, norm=ta_norm, eps=eps, steps=50, loss="ce")(x, y))
    assert abs(mine - theirs) <= 2 / len(y)
    mine = acc(apgd_targeted(net, x, y, eps, norm, 50, targets=4))
    theirs = acc(ta.APGDT(net, norm=ta_norm, eps=eps, steps=50, n_classes=5)(x, y))
    assert abs(mine - theirs) <= 2 / len(y)
    ours = worst_of(net, x, y, eps, [Attack("pgd", norm, 10, random_init=False)])["accuracy"]
    ref = ta.PGD if norm == "linf" else ta.PGDL2
    assert ours == acc(ref(net, eps=eps, alpha=0.25 * eps, steps=10, random_start=False)(x, y))
