"""A uniform 1D grid on [-L, L] with Dirichlet walls and a high-order finite-difference kinetic operator.

Why finite differences and not FFT: the kinetic matrix stays banded (half-bandwidth = order / 2), so the implicit
propagators (Crank-Nicolson) are banded LU solves and the ground state is a banded eigenproblem
(scipy.linalg.eig_banded), both O(M) per orbital; an FFT Laplacian would make every implicit step a dense solve.
With order 8 and dx = 0.1 the error of a smooth bound state is far below 1e-6 Ha.

Arrays: `x` is (M,); orbitals are (M, K) complex with K orbitals as columns; densities (M,).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import factorial

import numpy as np

from ..errors import ConfigError

ORDERS = (2, 4, 6, 8, 10, 12)
# Bounds that keep a grid computable: beyond MAX_HALF_WIDTH bohr (no 1D model system is that large) 1 / dx^2 can
# overflow; beyond MAX_POINTS points the ground state (a few orbitals of a banded M x M problem) and the
# observables no longer fit a workstation's time and memory, and the grid itself takes 8 bytes a point.
MAX_HALF_WIDTH = 1e6
MAX_POINTS = 1_000_000


def second_derivative_stencil(order: int) -> np.ndarray:
    """Central coefficients c_0..c_p (p = order / 2) of f'' ~ (1/dx^2) sum_k c_|k| f(x + k dx), accurate to
    O(dx^order): c_k = 2 (-1)^(k+1) (p!)^2 / (k^2 (p - k)! (p + k)!), c_0 = -2 sum_k c_k (Fornberg 1988)."""
    if order not in ORDERS:
        raise ConfigError(f"finite-difference order must be one of {', '.join(map(str, ORDERS))}, got {order}")
    p = order // 2
    c = [2 * (-1) ** (k + 1) * factorial(p) ** 2 / (k * k * factorial(p - k) * factorial(p + k))
         for k in range(1, p + 1)]
    return np.array([-2 * sum(c)] + c)


@dataclass(frozen=True)
class Grid:
    """Points x_j = -L + j dx, j = 0..M-1 with x_{M-1} = +L (L = half_width). psi = 0 beyond the walls."""

    half_width: float = 20.0
    dx: float = 0.1
    order: int = 8
    x: np.ndarray = field(init=False, repr=False, compare=False)
    stencil: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not (0 < self.half_width <= MAX_HALF_WIDTH):  # also refuses NaN and inf
            raise ConfigError(f"grid: the box half-width must be in (0, {MAX_HALF_WIDTH:g}] bohr, got "
                              f"{self.half_width}")
        if not (0 < self.dx <= self.half_width):
            raise ConfigError(f"grid: dx must be > 0 and at most the box half-width {self.half_width:g} bohr, got "
                              f"{self.dx}")
        if 2 * self.half_width / self.dx + 1 > MAX_POINTS:
            raise ConfigError(f"grid: the box +-{self.half_width:g} bohr at dx={self.dx:g} has more than "
                              f"{MAX_POINTS:,} points; take a larger dx or a smaller box")
        n = round(2 * self.half_width / self.dx)
        if abs(n * self.dx - 2 * self.half_width) > 1e-9 * self.half_width:
            raise ConfigError(f"grid: the box 2 * {self.half_width:g} is not a whole number of steps dx={self.dx:g}")
        if n + 1 < 2 * self.order:
            raise ConfigError(f"grid: {n + 1} points are too few for a finite-difference order {self.order}")
        object.__setattr__(self, "x", np.linspace(-self.half_width, self.half_width, n + 1))
        object.__setattr__(self, "stencil", -0.5 * second_derivative_stencil(self.order) / self.dx ** 2)

    @property
    def size(self) -> int:
        return len(self.x)

    @property
    def bandwidth(self) -> int:
        return self.order // 2

    def integrate(self, f: np.ndarray) -> np.ndarray:
        """Sum over the grid (first axis) times dx: the trapezoid rule, exact here since f = 0 at the walls."""
        return np.sum(f, axis=0) * self.dx

    def kinetic(self, psi: np.ndarray) -> np.ndarray:
        """T psi = -1/2 psi'' for psi of shape (M,) or (M, K), Dirichlet walls."""
        s = self.stencil
        out = s[0] * psi
        for k in range(1, len(s)):
            out[k:] += s[k] * psi[:-k]
            out[:-k] += s[k] * psi[k:]
        return out

    def kinetic_bands(self) -> np.ndarray:
        """T in LAPACK lower symmetric band storage, shape (p + 1, M): row k holds T[j + k, j]."""
        p, m = self.bandwidth, self.size
        bands = np.zeros((p + 1, m))
        for k in range(p + 1):
            bands[k, : m - k] = self.stencil[k]
        return bands

    def kinetic_dense(self) -> np.ndarray:
        """T as a dense (M, M) matrix (references and the dense baseline only)."""
        m = self.size
        t = np.diag(np.full(m, self.stencil[0]))
        for k in range(1, len(self.stencil)):
            t += np.diag(np.full(m - k, self.stencil[k]), k) + np.diag(np.full(m - k, self.stencil[k]), -k)
        return t

    def kinetic_max(self) -> float:
        """The largest kinetic energy the grid holds: the symbol of the stencil at k dx = pi (the Nyquist wave),
        an upper bound of T's eigenvalues under Dirichlet walls."""
        s = self.stencil
        return float(s[0] + 2 * sum(s[k] * (-1) ** k for k in range(1, len(s))))
