"""Update rules of a residual block read as one step of an ODE solver for x' = F(x) with step h (Chen et al. 2018;
Haber & Ruthotto 2017): euler is the ordinary residual block x + h F(x); the others evaluate the same F several
times per block. These are the update rules of a *network*, one step each; every reference solve of an ODE goes
through torchdiffeq instead.

All rules live in `INTEGRATORS`, so adding one is one entry. Each entry also says what a claim needs to test it:
its order, its stability function R(z) (a step maps y' = lambda y to R(h lambda) y), and, for leapfrog, the vector
field it actually discretizes. Shapes: x is (N, C, ...) or (N, F); F maps it to the same shape.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Literal

import numpy as np
import torch
from torch import nn

IntegratorName = Literal["euler", "heun", "midpoint", "rk4", "leapfrog", "implicit-euler"]
SolverName = Literal["fixed-point", "newton-krylov"]
INTEGRATOR_HELP = ("residual update rule, a step of an ODE solver on x' = F(x): euler (x + h F(x)), heun, midpoint, "
                   "rk4, leapfrog (reversible, on channel halves), implicit-euler (x' = x + h F(x')); applies to "
                   "blocks that keep the shape, pre-activation only")
SOLVER_HELP = "implicit-euler: fixed-point (needs h Lip(F) < 1) or newton-krylov (SciPy; stiff problems)"
Field = Callable[[torch.Tensor], torch.Tensor]
Scale = float | torch.Tensor


def euler(f: Field, x: torch.Tensor, h: Scale) -> torch.Tensor:
    return x + h * f(x)


def heun(f: Field, x: torch.Tensor, h: Scale) -> torch.Tensor:
    k1 = f(x)
    return x + h / 2 * (k1 + f(x + h * k1))


def midpoint(f: Field, x: torch.Tensor, h: Scale) -> torch.Tensor:
    return x + h * f(x + h / 2 * f(x))


def rk4(f: Field, x: torch.Tensor, h: Scale) -> torch.Tensor:
    """The classical Runge-Kutta method (Kutta 1901), four evaluations."""
    k1 = f(x)
    k2 = f(x + h / 2 * k1)
    k3 = f(x + h / 2 * k2)
    k4 = f(x + h * k3)
    return x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


# --- leapfrog: reversible, on the two channel halves (a, b) of the state -------------------------------------------

def _halves(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if x.shape[1] % 2:
        raise ValueError(f"leapfrog splits the channels in two halves; {x.shape[1]} channels is odd")
    return x.chunk(2, dim=1)


def partitioned(f: Field) -> Field:
    """The vector field leapfrog discretizes: a' = F_a(0, b), b' = F_b(a, 0). Each half moves with a velocity
    that depends only on the other half (the form of Hamiltonian and reversible nets: Haber & Ruthotto 2017,
    Chang et al. 2018); for a field already of that form it is F itself."""
    def g(x: torch.Tensor) -> torch.Tensor:
        a, b = _halves(x)
        za, zb = torch.zeros_like(a), torch.zeros_like(b)
        return torch.cat([_halves(f(torch.cat([za, b], 1)))[0], _halves(f(torch.cat([a, zb], 1)))[1]], 1)
    return g


def leapfrog(f: Field, x: torch.Tensor, h: Scale) -> torch.Tensor:
    """Stoermer-Verlet (kick-drift-kick) on the partitioned field: second order, symmetric, and exactly
    invertible (`leapfrog(f, y, -h)` returns x up to rounding), since each sub-step shifts one half by a function
    of the other. Three evaluations of F."""
    a, b = _halves(x)
    za = torch.zeros_like(a)

    def kick(a: torch.Tensor) -> torch.Tensor:  # b-velocity, a function of a only
        return _halves(f(torch.cat([a, za], 1)))[1]

    b = b + h / 2 * kick(a)
    a = a + h * _halves(f(torch.cat([za, b], 1)))[0]
    b = b + h / 2 * kick(a)
    return torch.cat([a, b], 1)


# --- implicit Euler: x' = x + h F(x'), solved; gradients by implicit differentiation --------------------------------

@dataclass
class SolveStats:
    """What the implicit solves of one block did since the last `reset()`; a claim reports unconverged solves."""

    solves: int = 0
    unconverged: int = 0
    iterations: int = 0
    max_residual: float = 0.0

    def add(self, converged: bool, iterations: int, residual: float) -> None:
        self.solves += 1
        self.unconverged += not converged
        self.iterations += iterations
        self.max_residual = max(self.max_residual, residual)

    def reset(self) -> None:
        self.solves = self.unconverged = self.iterations = 0
        self.max_residual = 0.0


@dataclass(frozen=True)
class Solver:
    """How implicit-euler solves its equation (forward) and its adjoint linear system (backward)."""

    method: str = "fixed-point"  # or "newton-krylov"
    tol: float = 1e-6  # relative residual ||z - x - h F(z)|| / ||z||
    max_iter: int = 100
    stats: SolveStats = field(default_factory=SolveStats, compare=False)

    def __post_init__(self) -> None:
        if self.method not in SOLVERS:
            raise ValueError(f"unknown implicit solver {self.method!r}; valid: {', '.join(SOLVERS)}")


def _rel(r: torch.Tensor, z: torch.Tensor) -> float:
    return float(r.norm() / z.norm().clamp_min(1e-30))


def _fixed_point(g: Field, z0: torch.Tensor, tol: float, max_iter: int) -> tuple[torch.Tensor, bool, int, float]:
    """Iterate z <- g(z); converges when h Lip(F) < 1 (Banach), i.e. exactly when the problem is not stiff."""
    z, res = z0, float("inf")
    for k in range(1, max_iter + 1):
        z_next = g(z)
        res = _rel(z_next - z, z_next)
        z = z_next
        if res <= tol:
            return z, True, k, res
    return z, False, max_iter, res


def _newton_krylov(g: Field, z0: torch.Tensor, tol: float, max_iter: int) -> tuple[torch.Tensor, bool, int, float]:
    """SciPy's Newton-Krylov on z - g(z) = 0 (float64 on the host; meant for the small nets of the claims).
    Converges for stiff problems where the fixed-point iteration does not."""
    from scipy.optimize import NoConvergence, newton_krylov
    shape, dtype, device = z0.shape, z0.dtype, z0.device
    calls = [0]

    def residual(v: np.ndarray) -> np.ndarray:
        calls[0] += 1
        z = torch.as_tensor(v, dtype=dtype, device=device).view(shape)
        return (z - g(z)).detach().cpu().double().numpy().ravel()

    start = z0.detach().cpu().double().numpy().ravel()
    scale = max(float(np.linalg.norm(start)), 1e-30)
    try:
        # finite-difference Jacobian-vector products need a step the model's dtype can resolve
        v, ok = newton_krylov(residual, start, f_tol=tol * scale / max(1.0, start.size ** 0.5), maxiter=max_iter,
                              rdiff=float(torch.finfo(dtype).eps) ** 0.5), True
    except NoConvergence as e:
        v, ok = e.args[0], False
    z = torch.as_tensor(v, dtype=dtype, device=device).view(shape)
    return z, ok, calls[0], _rel(z - g(z), z)


SOLVERS: dict[str, Callable[..., tuple[torch.Tensor, bool, int, float]]] = {
    "fixed-point": _fixed_point, "newton-krylov": _newton_krylov}


@contextlib.contextmanager
def _frozen_norm_stats(f: Any) -> Iterator[None]:
    """The solver evaluates F many times; batch-norm running statistics must move once per step, not per
    iteration, so they are put back afterwards (the one evaluation with gradients updates them)."""
    saved = [(b, b.detach().clone()) for b in (f.buffers() if isinstance(f, nn.Module) else ())]
    try:
        yield
    finally:
        with torch.no_grad():
            for b, v in saved:
                b.copy_(v)


def _adjoint(vjp: Callable[[torch.Tensor], torch.Tensor], grad: torch.Tensor, solver: Solver) -> torch.Tensor:
    """Solve u = grad + (h dF/dz)^T u, i.e. (I - h J)^T u = grad, with the forward's method."""
    if solver.method == "newton-krylov":
        from scipy.sparse.linalg import LinearOperator, gmres
        n, shape = grad.numel(), grad.shape

        def matvec(v: np.ndarray) -> np.ndarray:
            t = torch.as_tensor(v, dtype=grad.dtype, device=grad.device).view(shape)
            return (t - vjp(t)).detach().cpu().double().numpy().ravel()

        b = grad.detach().cpu().double().numpy().ravel()
        u, info = gmres(LinearOperator((n, n), matvec=matvec, dtype=np.float64), b, rtol=solver.tol,
                        maxiter=solver.max_iter)
        out = torch.as_tensor(u, dtype=grad.dtype, device=grad.device).view(shape)
        solver.stats.add(info == 0, 0, _rel(out - grad - vjp(out), out) if info else 0.0)
        return out
    u, ok, it, res = _fixed_point(lambda u: grad + vjp(u), grad, solver.tol, solver.max_iter)
    solver.stats.add(ok, it, res)
    return u


def implicit_euler(f: Field, x: torch.Tensor, h: Scale, solver: Solver | None = None) -> torch.Tensor:
    """z = x + h F(z). The solve runs without autograd; the gradient comes from the implicit function theorem
    (dz/dx = (I - h J)^-1, J = dF/dz at the solution) by one extra evaluation of F with autograd and a hook that
    solves the adjoint system, as deep equilibrium models do (Bai et al. 2019), rather than by backpropagating
    through the iterations. Unconverged solves are counted in `solver.stats`, never hidden."""
    solver = solver or Solver()
    with torch.no_grad(), _frozen_norm_stats(f):
        z, ok, it, res = SOLVERS[solver.method](lambda z: x + h * f(z), x + h * f(x), solver.tol, solver.max_iter)
    solver.stats.add(ok, it, res)
    z = z.detach()
    if not torch.is_grad_enabled():
        return z
    out = x + h * f(z)  # value z (up to the solve's residual); gradient to x, h and F's parameters
    if out.requires_grad:
        z0 = z.clone().requires_grad_()
        with _frozen_norm_stats(f):
            hf = h * f(z0)

        def vjp(u: torch.Tensor) -> torch.Tensor:
            return torch.autograd.grad(hf, z0, u, retain_graph=True)[0]

        out.register_hook(lambda grad: _adjoint(vjp, grad, solver))
    return out


# --- the one dict ---------------------------------------------------------------------------------------------------

def _poly(*coeffs: float) -> Callable[[np.ndarray], np.ndarray]:
    """R(z) = sum_k coeffs[k] z^k: the stability function of an explicit Runge-Kutta method."""
    return lambda z: sum(c * z ** k for k, c in enumerate(coeffs))


@dataclass(frozen=True)
class Integrator:
    step: Callable[..., torch.Tensor]  # (f, x, h[, solver]) -> x_next
    order: int  # global order of accuracy
    evaluations: int | None  # evaluations of F per step (None: as many as the solve takes)
    amplification: Callable[[np.ndarray], np.ndarray] | None  # R(z), z = h lambda; None if not a function of z
    implicit: bool = False
    reversible: bool = False  # step(f, step(f, x, h), -h) == x
    field: Callable[[Field], Field] = lambda f: f  # the vector field the rule discretizes
    note: str = ""


INTEGRATORS: dict[str, Integrator] = {
    "euler": Integrator(euler, 1, 1, _poly(1, 1), note="x + h F(x): the residual block"),
    "heun": Integrator(heun, 2, 2, _poly(1, 1, 1 / 2), note="explicit trapezoid"),
    "midpoint": Integrator(midpoint, 2, 2, _poly(1, 1, 1 / 2), note="explicit midpoint"),
    "rk4": Integrator(rk4, 4, 4, _poly(1, 1, 1 / 2, 1 / 6, 1 / 24), note="classical Runge-Kutta"),
    "leapfrog": Integrator(leapfrog, 2, 3, None, reversible=True, field=partitioned,
                           note="Stoermer-Verlet on the channel halves; reversible"),
    "implicit-euler": Integrator(implicit_euler, 1, None, lambda z: 1 / (1 - z), implicit=True,
                                 note="x' = x + h F(x'), implicit gradients"),
}


def get_integrator(name: str) -> Integrator:
    try:
        return INTEGRATORS[name]
    except KeyError:
        raise ValueError(f"unknown integrator {name!r}; valid: {', '.join(INTEGRATORS)}") from None


def integrate(name: str, f: Field, x: torch.Tensor, h: Scale, solver: Solver | None = None) -> torch.Tensor:
    """One step of rule `name`."""
    rule = get_integrator(name)
    return rule.step(f, x, h, solver) if rule.implicit else rule.step(f, x, h)
