"""Time steps for i d psi/dt = H[n](t) psi, chosen by name from one dict, `PROPAGATORS`.

Each propagator is built for one Kohn-Sham system and an optional time-dependent potential v_pert(t) (M,) and maps
psi(t) (M, K) to psi(t + dt). The density-dependent H[n] is evaluated where each method needs it:
- euler: psi + dt * (-i H psi). A residual update x + h F(x) with F = -i H, whose eigenvalues -i E lie on the
  imaginary axis, outside Euler's disk |1 + z| <= 1: every mode grows by sqrt(1 + dt^2 E^2) per step.
- rk4: the classical Runge-Kutta method, H re-evaluated at each stage; stable on the imaginary axis for
  |dt E| <= 2 sqrt(2), dissipative inside.
- crank-nicolson: (1 + i dt/2 H) psi' = (1 - i dt/2 H) psi, H at the midpoint from a predictor step (a
  predictor-corrector); a Cayley transform, unitary for any dt. Banded direct solves.
- exponential-midpoint: psi' = exp(-i dt H(t + dt/2)) psi, H(t + dt/2) from a half-step predictor.
- etrs: enforced time-reversal symmetry, psi' = exp(-i dt/2 H(t + dt)) exp(-i dt/2 H(t)) psi, H(t + dt) from the
  predictor exp(-i dt H(t)) psi (Castro, Marques & Rubio, J. Chem. Phys. 121, 3425, 2004).
The exponentials are Lanczos (expm.py).
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np
from scipy.linalg import solve_banded

from .expm import Lanczos
from .hamiltonian import KohnSham

Perturbation = Callable[[float], Optional[np.ndarray]]


class Propagator:
    """Base of the steps: holds the system and the perturbation; `step(psi, t, dt)` -> psi(t + dt)."""

    name = ""

    def __init__(self, ks: KohnSham, perturbation: Perturbation | None = None, tol: float = 1e-12) -> None:
        self.ks, self.pert, self.tol = ks, perturbation, tol

    def v(self, psi: np.ndarray, t: float) -> np.ndarray:
        """The full potential (M,) at time t for the density of psi."""
        v = self.ks.potential(self.ks.density(psi))
        p = self.pert(t) if self.pert is not None else None
        return v if p is None else v + p

    def v_pert(self, t: float) -> np.ndarray | None:
        return self.pert(t) if self.pert is not None else None

    def step(self, psi: np.ndarray, t: float, dt: float) -> np.ndarray:
        raise NotImplementedError


class Euler(Propagator):
    name = "euler"

    def step(self, psi, t, dt):
        return psi - 1j * dt * self.ks.apply(psi, self.v(psi, t))


class RK4(Propagator):
    name = "rk4"

    def step(self, psi, t, dt):
        f = lambda p, s: -1j * self.ks.apply(p, self.v(p, s))  # noqa: E731
        k1 = f(psi, t)
        k2 = f(psi + dt / 2 * k1, t + dt / 2)
        k3 = f(psi + dt / 2 * k2, t + dt / 2)
        k4 = f(psi + dt * k3, t + dt)
        return psi + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


class CrankNicolson(Propagator):
    name = "crank-nicolson"
    corrector_steps = 1  # one corrector makes the step second order for a density-dependent H

    def _solve(self, psi: np.ndarray, v: np.ndarray, dt: float) -> np.ndarray:
        ks, p = self.ks, self.ks.grid.bandwidth
        rhs = psi - 0.5j * dt * ks.apply(psi, v)
        ab = np.zeros((2 * p + 1, ks.grid.size), complex)  # 1 + i dt/2 H in LAPACK general band storage
        s = 0.5j * dt * ks.grid.stencil
        ab[p] = 1 + s[0] + 0.5j * dt * v
        for k in range(1, p + 1):
            ab[p - k, k:] = s[k]
            ab[p + k, :-k] = s[k]
        return solve_banded((p, p), ab, rhs, check_finite=False)

    def step(self, psi, t, dt):
        ks = self.ks
        v_ks = ks.potential(ks.density(psi))
        p0, p_mid = self.v_pert(t), self.v_pert(t + dt / 2)
        new = self._solve(psi, v_ks if p0 is None else v_ks + p0, dt)  # predictor: H frozen at t
        for _ in range(self.corrector_steps):  # corrector: H at the midpoint, density averaged
            v_mid = 0.5 * (v_ks + ks.potential(ks.density(new)))
            new = self._solve(psi, v_mid if p_mid is None else v_mid + p_mid, dt)
        return new


class _Exponential(Propagator):
    def __init__(self, ks, perturbation=None, tol=1e-12):
        super().__init__(ks, perturbation, tol)
        self.lanczos = Lanczos(ks.grid.size, tol)

    def expm(self, psi: np.ndarray, v: np.ndarray, tau: float) -> np.ndarray:
        """exp(-i tau (T + diag v)) psi, orbital by orbital."""
        h = lambda q: self.ks.apply(q, v)  # noqa: E731
        return np.stack([self.lanczos(h, psi[:, k], tau) for k in range(psi.shape[1])], axis=1)


class ExponentialMidpoint(_Exponential):
    name = "exponential-midpoint"

    def step(self, psi, t, dt):
        half = self.expm(psi, self.v(psi, t), dt / 2)  # predictor for the midpoint density
        return self.expm(psi, self.v(half, t + dt / 2), dt)


class ETRS(_Exponential):
    name = "etrs"

    def step(self, psi, t, dt):
        v0 = self.v(psi, t)
        half = self.expm(psi, v0, dt / 2)
        predicted = self.expm(half, v0, dt / 2)  # exp(-i dt H(t)) psi as two half steps: `half` is reused
        return self.expm(half, self.v(predicted, t + dt), dt / 2)


PROPAGATORS: dict[str, type[Propagator]] = {c.name: c for c in (Euler, RK4, CrankNicolson, ExponentialMidpoint,
                                                                  ETRS)}
