"""exp(-i tau H) v by the Lanczos (Krylov) method, for a Hermitian H given only by its action.

Why Lanczos and not a dense expm: H is M x M (M ~ 400) but banded; a step needs exp(-i tau H) applied to K
orbitals only, and a Krylov space of m ~ 10-30 vectors resolves it to 1e-12 (Hochbruck & Lubich 1997; the
propagator of Castro, Marques & Rubio 2004 in Octopus uses it). The small m x m tridiagonal exponential is exact
(eigendecomposition), so the result is unitary up to the orthogonality of the basis, kept by full
re-orthogonalization (two Gram-Schmidt passes: the norm must survive thousands of steps).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import ConfigError


class Lanczos:
    """exp(-i tau H) v for vectors v (M,); remembers the last Krylov dimension to start its convergence checks
    there (the estimate is an eigen-solve of the small matrix, a cost worth skipping)."""

    def __init__(self, size: int, tol: float = 1e-12, m_max: int = 80) -> None:
        self.tol, self.m_max = tol, m_max
        self.q = np.empty((m_max + 1, size), complex)
        self.last_m = 4
        self.max_m_used = 0

    def __call__(self, apply: Callable[[np.ndarray], np.ndarray], v: np.ndarray, tau: float) -> np.ndarray:
        beta0 = float(np.sqrt(np.vdot(v, v).real))
        if beta0 == 0.0:
            return v.copy()
        q = self.q
        q[0] = v / beta0
        alpha, beta = [], []
        check_from = max(2, self.last_m - 1)
        for j in range(self.m_max):
            w = apply(q[j])
            basis = q[: j + 1]
            for sweep in range(2):  # classical Gram-Schmidt, twice (Giraud et al. 2005: "twice is enough")
                h = (basis @ w.conj()).conj()  # <q_i, w> without copying the basis into its conjugate
                w = w - h @ basis
                if sweep == 0:
                    a = float(h[j].real)
            alpha.append(a)
            b = float(np.sqrt(np.vdot(w, w).real))
            if b < 1e-14 * max(1.0, abs(a)):  # an invariant subspace: the exponential is exact
                return beta0 * (self._small(alpha, beta, tau) @ q[: j + 1])
            if j + 1 >= check_from:
                y = self._small(alpha, beta, tau)
                if b * abs(y[-1]) < self.tol:  # the a-posteriori estimate of Saad (1992), relative to |v|
                    self.last_m = j + 1
                    self.max_m_used = max(self.max_m_used, j + 1)
                    return beta0 * (y @ q[: j + 1])
            beta.append(b)
            q[j + 1] = w / b
        raise ConfigError(f"the Lanczos exponential did not converge to {self.tol:g} in {self.m_max} vectors "
                          f"(tau |H| too large: take a smaller time step)")

    @staticmethod
    def _small(alpha: list[float], beta: list[float], tau: float) -> np.ndarray:
        """exp(-i tau T_m) e_1 for the Lanczos tridiagonal T_m."""
        if len(alpha) == 1:
            return np.array([np.exp(-1j * tau * alpha[0])])
        t = np.diag(alpha) + np.diag(beta, 1) + np.diag(beta, -1)  # dense m x m: LAPACK's syevd beats the
        lam, s = np.linalg.eigh(t)  # tridiagonal solver's Python wrapper at m ~ 10-30
        return s @ (np.exp(-1j * tau * lam) * s[0])
