"""Integrator blocks: known answers in float64 (orders of convergence on a linear ODE with a known solution,
stability boundaries, exact reversibility, implicit-Euler solves and their implicit gradients)."""

import numpy as np
import pytest
import torch
from torch import nn

from skiplab.models import create_model
from skiplab.models.blocks import IntegratorBlock, ResidualBlock
from skiplab.models.parts.integrators import INTEGRATORS, Solver, implicit_euler, integrate, partitioned
from skiplab.probes.stability import growth, real_boundary

# x' = A x with A having complex eigenvalues -0.5 +- 2i and -1: exact solution expm(t A) x0
# (float64 throughout: in float32 rounding would flatten the convergence orders)
A = torch.tensor([[-0.5, 2.0, 0.0], [-2.0, -0.5, 0.3], [0.0, 0.0, -1.0]], dtype=torch.float64)
X0 = torch.tensor([[1.0, -0.5, 0.8]], dtype=torch.float64)


def solve(name, f, x0, T, n):
    x, h = x0, T / n
    for _ in range(n):
        x = integrate(name, f, x, h, Solver("newton-krylov", tol=1e-14) if name == "implicit-euler" else None)
    return x


@pytest.mark.parametrize("name", ["euler", "heun", "midpoint", "rk4", "implicit-euler"])
def test_order_of_convergence_on_a_linear_ode(name):
    f = lambda x: x @ A.T  # noqa: E731
    exact = X0 @ torch.linalg.matrix_exp(2.0 * A).T
    ns = [32, 64, 128, 256]  # asymptotic range: h |lambda| <= 0.13
    errs = [float((solve(name, f, X0, 2.0, n) - exact).norm()) for n in ns]
    slope = -np.polyfit(np.log(ns), np.log(errs), 1)[0]
    assert abs(slope - INTEGRATORS[name].order) < 0.2, (name, slope, errs)


def test_leapfrog_is_second_order_on_its_partitioned_field_and_exactly_reversible():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 4)).double()
    x0 = torch.randn(2, 4, dtype=torch.float64)
    # reference: rk4 with many steps on the field leapfrog discretizes
    with torch.no_grad():
        ref = solve("rk4", partitioned(net), x0, 1.0, 2000)
        errs = [float((solve("leapfrog", net, x0, 1.0, n) - ref).norm()) for n in (16, 32, 64)]
    slope = -np.polyfit(np.log([16, 32, 64]), np.log(errs), 1)[0]
    assert abs(slope - 2) < 0.2, errs
    with torch.no_grad():
        y = x0
        for _ in range(200):
            y = integrate("leapfrog", net, y, 0.1)
        for _ in range(200):
            y = integrate("leapfrog", net, y, -0.1)
    assert torch.allclose(y, x0, rtol=0, atol=1e-12)


def test_real_axis_stability_boundaries():
    assert real_boundary("euler") == pytest.approx(-2.0, abs=1e-5)
    assert real_boundary("heun") == pytest.approx(-2.0, abs=1e-5)
    assert real_boundary("rk4") == pytest.approx(-2.7853, abs=1e-4)
    assert real_boundary("implicit-euler") is None  # A-stable
    assert real_boundary("leapfrog") == pytest.approx(-2.0, abs=1e-3)  # |h w| < 2 on the imaginary axis


def test_measured_growth_is_the_stability_function():
    rng = np.random.default_rng(0)
    for z in rng.normal(size=8) * 2 + 1j * rng.normal(size=8) * 2:
        for name in ("euler", "heun", "rk4", "implicit-euler"):
            assert growth(name, z) == pytest.approx(abs(INTEGRATORS[name].amplification(z)), rel=1e-9)
    assert growth("euler", complex(-2.0, 0.0)) == pytest.approx(1.0)  # |1 + h lambda| = 1 on the boundary


def contractive_branch(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 5)).double()


@pytest.mark.parametrize("method", ["fixed-point", "newton-krylov"])
def test_implicit_euler_gradients_equal_backprop_through_a_converged_unrolled_solve(method):
    f = contractive_branch()
    x = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    h = 0.3
    solver = Solver(method, tol=1e-13, max_iter=200)
    z = implicit_euler(f, x, h, solver)
    assert float((z - x - h * f(z)).detach().norm()) < 1e-10  # it solved the equation
    w = torch.randn_like(z)
    gx, *gp = torch.autograd.grad((z * w).sum(), [x, *f.parameters()])
    # reference: backpropagate through 200 fixed-point iterations (converged far below float64 rounding)
    zr = x + h * f(x)
    for _ in range(200):
        zr = x + h * f(zr)
    rx, *rp = torch.autograd.grad((zr * w).sum(), [x, *f.parameters()])
    assert torch.allclose(gx, rx, rtol=1e-7, atol=1e-10)
    for a, b in zip(gp, rp):
        assert torch.allclose(a, b, rtol=1e-7, atol=1e-10)
    assert solver.stats.unconverged == 0 and solver.stats.solves == 2  # the forward solve and the adjoint solve


def test_stiff_implicit_step_is_exact_with_newton_and_reported_unconverged_with_fixed_point():
    lam, h = -50.0, 0.1  # h lambda = -5: explicit Euler multiplies by -4 per step
    f = lambda x: lam * x  # noqa: E731
    x = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    newton = Solver("newton-krylov", tol=1e-12)
    assert torch.allclose(implicit_euler(f, x, h, newton), x / (1 - h * lam), rtol=1e-9)
    assert newton.stats.unconverged == 0
    fixed = Solver("fixed-point", max_iter=30)
    implicit_euler(f, x, h, fixed)
    assert fixed.stats.unconverged == 1 and fixed.stats.max_residual > 1


def test_batchnorm_statistics_move_once_per_implicit_step():
    torch.manual_seed(0)
    branch = nn.Sequential(nn.BatchNorm1d(4), nn.Tanh(), nn.Linear(4, 4))
    twin = nn.Sequential(nn.BatchNorm1d(4), nn.Tanh(), nn.Linear(4, 4))
    twin.load_state_dict(branch.state_dict())
    x = torch.randn(16, 4)
    solver = Solver("fixed-point", tol=1e-6)
    z = implicit_euler(branch, x, 0.1, solver)
    twin(z.detach())  # one ordinary evaluation at the solution
    assert int(branch[0].num_batches_tracked) == 1
    assert torch.allclose(branch[0].running_mean, twin[0].running_mean, atol=1e-6)


def test_integrator_blocks_in_nets():
    net = create_model("preresnet20", integrator="rk4", input_size=(8, 8))
    kinds = [b.kind for _, b in net.blocks()]
    assert kinds.count("additive") == 2 and kinds.count("continuous") == 7  # downsampling blocks stay additive
    block = dict(net.blocks())["stages.0.blocks.1"]
    assert isinstance(block, IntegratorBlock)
    x = torch.randn(2, 16, 8, 8)
    net.eval()
    with torch.no_grad():
        f = block.branch
        assert torch.allclose(block(x), x + (f(x) + 2 * f(x + f(x) / 2) + 2 * f(x + f(x + f(x) / 2) / 2)
                                             + f(x + f(x + f(x + f(x) / 2) / 2))) / 6, atol=1e-5)
        assert torch.allclose(block.increment(x), block(x) - x)
        assert torch.equal(block.lesion(x), x)
    euler = create_model("preresnet20", input_size=(8, 8))
    assert all(isinstance(b, ResidualBlock) for _, b in euler.blocks())


def test_shared_weights_mlp_is_one_vector_field_and_bad_configs_are_refused():
    from skiplab.errors import ConfigError
    net = create_model("resmlp", depth=6, width=8, share_weights=True, integrator="heun", h=1 / 6)
    single = create_model("resmlp", depth=1, width=8)
    stem_head = sum(p.numel() for m in (net.stem, net.head) for p in m.parameters())
    assert net.num_parameters() - stem_head == sum(p.numel() for p in single.stages.parameters())
    branches = {id(b.branch) for _, b in net.blocks()}
    assert len(branches) == 1
    with pytest.raises(ConfigError, match="pre-activation"):
        create_model("resnet20", integrator="rk4")
    with pytest.raises(ConfigError, match="odd"):
        create_model("resmlp", width=7, integrator="leapfrog")
    with pytest.raises(ConfigError):
        create_model("resmlp", integrator="rk5")


def test_shared_weights_survive_a_checkpoint(tmp_path):
    from skiplab.data import load_dataset
    from skiplab.train import TrainConfig, fit
    from skiplab.train.checkpoint import load_model_weights
    from skiplab.train.loop import model_signature
    data = load_dataset("digits")

    def make():
        torch.manual_seed(0)
        return create_model("resmlp", depth=3, width=16, share_weights=True, integrator="heun", h=1 / 3,
                            **data.model_kwargs())
    net = make()
    fit(net, data, TrainConfig(epochs=1, batch_size=256, lr=0.05, device="cpu", channels_last=False),
        run_dir=tmp_path, verbose=False)
    fresh = make()
    load_model_weights(tmp_path, fresh, model_signature(fresh))
    for (k, a), b in zip(net.state_dict().items(), fresh.state_dict().values()):
        assert torch.equal(a, b), k
    assert fresh.stages[0].blocks[0].branch is fresh.stages[0].blocks[2].branch  # still one shared module
