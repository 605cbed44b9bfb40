"""Empirical stability of an integrator rule (models/parts/integrators.py) on linear test dynamics y' = lambda y.

The rule itself is run, not its stability polynomial: a complex lambda acts on R^2 as the rotation-scaling matrix
[[a, -b], [b, a]], which each rule maps to another rotation-scaling matrix, so the per-step growth of the norm is
|R(h lambda)| for every starting point. Leapfrog discretizes a partitioned field (its half a moves with b only),
so it is tested on the oscillator a' = w b, b' = -w a, whose eigenvalues are +-i w: its region lies on the
imaginary axis. Float64 throughout: stability boundaries are a statement about exact arithmetic.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from ..models.parts.integrators import INTEGRATORS, Solver, get_integrator, integrate


# Leapfrog's matrix is not normal: inside its region the norm oscillates (a modified energy is kept, not the
# norm), so it is read over many steps with a looser threshold; every other rule's norm changes by exactly |R(z)|.
LEAPFROG_STEPS, LEAPFROG_SLACK, SLACK = 1024, 4e-3, 1e-9
LEAPFROG_LIMIT = 2.0  # Stoermer-Verlet on the oscillator is stable iff |h w| <= 2 (Hairer, Lubich & Wanner I.5)


def stable(name: str, z: complex) -> bool:
    return growth(name, z) <= 1 + (LEAPFROG_SLACK if get_integrator(name).reversible else SLACK)


def _linear(z: complex, partitioned: bool):
    a, b = z.real, z.imag
    if partitioned:
        if a != 0:
            raise ValueError("leapfrog's partitioned oscillator has purely imaginary eigenvalues; Re z must be 0")
        m = torch.tensor([[0.0, b], [-b, 0.0]], dtype=torch.float64)  # a' = b-coupling, b' = -a-coupling
    else:
        m = torch.tensor([[a, -b], [b, a]], dtype=torch.float64)
    return lambda x: x @ m.T


def growth(name: str, z: complex, steps: int | None = None) -> float:
    """Per-step growth factor ||x_N|| / ||x_0|| ** (1/N) of rule `name` with h = 1 on y' = z y (h lambda = z);
    stable where it is <= 1. Implicit rules solve by Newton-Krylov (fixed-point iteration fails when |z| > 1)."""
    rule = get_integrator(name)
    steps = steps or (LEAPFROG_STEPS if rule.reversible else 64)
    f = _linear(complex(z), partitioned=rule.reversible)
    x0 = torch.tensor([[1.0, 0.3]], dtype=torch.float64)
    solver = Solver("newton-krylov", tol=1e-13, max_iter=50) if rule.implicit else None
    x, log_growth = x0, 0.0
    with torch.no_grad():
        for _ in range(steps):
            y = integrate(name, f, x, 1.0, solver)
            n = float(y.norm())
            if not math.isfinite(n) or n == 0:
                return math.inf if not math.isfinite(n) else 0.0
            log_growth += math.log(n / float(x.norm()))
            x = y / n  # renormalize: the growth is read per step, without overflow
    return math.exp(log_growth / steps)


def real_boundary(name: str, lo: float = -10.0, tol: float = 1e-6) -> float | None:
    """The left end z* < 0 of the stable interval [z*, 0] of rule `name` on the real axis (the imaginary axis for
    leapfrog, returned as -w*), by bisection on the measured growth; None if it is stable all the way to `lo`."""
    axis = complex(0, -1) if get_integrator(name).reversible else complex(1, 0)
    if stable(name, lo * axis):
        return None
    a, b = lo, -tol  # unstable at a, stable just left of 0
    while b - a > tol:
        m = (a + b) / 2
        a, b = (a, m) if stable(name, m * axis) else (m, b)
    return (a + b) / 2


def boundary_locus(name: str, n: int = 720) -> tuple[list[float], list[float], bool]:
    """Points z with |R(z)| = 1 by the boundary-locus method: the roots of P(z) = e^{i theta}, P = R for an explicit
    Runge-Kutta rule (a polynomial of degree <= its evaluations of F), P = 1 / R for implicit Euler (1 - z). The
    polynomial is recovered from the rule's own R by interpolation at the nodes 0, -1, -2, ..., so a new rule needs no entry
    here. Returns (re, im, ordered): ordered when the points form one curve in theta order (degree 1)."""
    rule = INTEGRATORS[name]
    if rule.reversible:  # leapfrog: the segment [-2i, 2i]
        return [0.0, 0.0], [-LEAPFROG_LIMIT, LEAPFROG_LIMIT], True
    deg = 1 if rule.implicit else rule.evaluations
    nodes = -np.arange(deg + 1, dtype=float)  # z <= 0: clear of implicit Euler's pole at z = 1
    vals = rule.amplification(nodes.astype(np.complex128))
    coeffs = np.linalg.solve(np.vander(nodes, deg + 1), 1 / vals if rule.implicit else vals)  # highest power first
    zs = []
    for t in np.linspace(0, 2 * np.pi, n + 1):
        c = coeffs.astype(np.complex128).copy()
        c[-1] -= np.exp(1j * t)
        zs.append(np.roots(c))
    pts = np.concatenate(zs)
    return np.round(pts.real, 5).tolist(), np.round(pts.imag, 5).tolist(), deg == 1


def first_unstable(stable: Callable[[float], bool], h_max: float, n: int = 200, tol: float = 1e-7) -> float | None:
    """The smallest h in (0, h_max] at which `stable(h)` turns false (a scan of n steps, then bisection to tol);
    None if stable on the whole scan."""
    prev = 0.0
    for h in np.linspace(h_max / n, h_max, n):
        if not stable(float(h)):
            a, b = prev, float(h)
            while b - a > tol:
                m = (a + b) / 2
                a, b = (m, b) if stable(m) else (a, m)
            return (a + b) / 2
        prev = float(h)
    return None
