"""Adiabatic Hartree-exchange-correlation functionals for the soft-Coulomb interaction: potential v_Hxc[n] (M,)
and energy E_Hxc[n] (Ha) of a density n (M,).

- "none": independent electrons (v = 0).
- "hartree": v_H(x) = int n(x') w(x - x') dx'.
- "exx": exact exchange where it is a local potential: for a two-electron singlet v_x = -v_H / 2 (so the
  Kohn-Sham equations are time-dependent Hartree-Fock), for one electron v_x = -v_H (no self-interaction).
- "lda": Hartree + the local density approximation for the soft-Coulomb electron gas: exchange in closed form
  (derived below) and the correlation of Helbig, Fuks, Casula, Verstraete, Marques, Tokatly & Rubio, Phys. Rev. A
  83, 032503 (2011), a fit to the QMC energies of Casula, Sorella & Senatore (PRB 74, 245427, 2006). A closed shell
  uses the unpolarized gas; one electron the fully polarized gas.

Exchange of the homogeneous gas with w(r) = 1 / sqrt(r^2 + 1) (whose Fourier transform is 2 K_0(|q|)): with g
spin species (2 unpolarized, 1 polarized), k_F = pi n / g and b = 2 k_F, the exchange energy per length is
e_x = -(g / 2 pi^2) int_0^b K_0(q) (b - q) dq = -(g / 2 pi^2) [b I(b) - 1 + b K_1(b)], I(b) = int_0^b K_0, and
v_x = de_x/dn = -(1/pi) I(b). Limits: e_x -> -n/2 at high density (a hole narrower than the
softening), -> 0 at low density.
"""

from __future__ import annotations

import numpy as np
from scipy.special import iti0k0, k1

from ..config import suggest
from ..errors import ConfigError
from .systems import System, soft_coulomb

FUNCTIONALS = ("none", "hartree", "exx", "lda")
_FLOOR = 1e-30  # densities are clipped here: K_1 and r_s diverge at n = 0, where e_xc -> 0 anyway

# Helbig et al. 2011 correlation for the soft-Coulomb gas (softening 1), as tabulated in libxc's lda_c_1d_csc
# (interaction = 1, b = 1): eps_c(rs) = -(rs + E rs^2) ln(1 + alpha rs + beta rs^m) / (2 (A + B rs + C rs^2 + D rs^3)),
# rs = 1 / (2 n), in Ha per electron. Columns: A, B, C, D, E, alpha, beta, m.
CORRELATION = {"unpolarized": (18.40, 0.0, 7.501, 0.10185, 0.012827, 1.511, 0.258, 4.424),
               "polarized": (5.24, 0.0, 1.568, 0.12856, 0.003201, 0.0538, 1.56e-5, 2.958)}


def exchange_lda(n: np.ndarray, polarized: bool) -> tuple[np.ndarray, np.ndarray]:
    """(e_x, v_x), (M,) each: exchange energy per length and potential of the soft-Coulomb gas (module doc)."""
    n = np.maximum(n, _FLOOR)
    g, b = (1.0, 2 * np.pi * n) if polarized else (2.0, np.pi * n)
    ik0 = iti0k0(b)[1]
    e = -(g / (2 * np.pi ** 2)) * (b * ik0 - 1 + b * k1(b))
    return e, -ik0 / np.pi


def correlation_lda(n: np.ndarray, polarized: bool) -> tuple[np.ndarray, np.ndarray]:
    """(e_c, v_c), (M,) each: e_c = n eps_c(rs), v_c = eps_c - rs d eps_c / d rs (Helbig et al. 2011)."""
    a, b, c, d, e, alpha, beta, m = CORRELATION["polarized" if polarized else "unpolarized"]
    n = np.maximum(n, _FLOOR)
    rs = 1 / (2 * n)
    p, dp = rs + e * rs ** 2, 1 + 2 * e * rs
    q, dq = a + b * rs + c * rs ** 2 + d * rs ** 3, b + 2 * c * rs + 3 * d * rs ** 2
    arg = 1 + alpha * rs + beta * rs ** m
    log, dlog = np.log(arg), (alpha + beta * m * rs ** (m - 1)) / arg
    eps = -p * log / (2 * q)
    deps = -(dp * log + p * dlog - p * log * dq / q) / (2 * q)
    return n * eps, eps - rs * deps


class Functional:
    """v_Hxc and E_Hxc of one functional for one system (the interaction matrix is built once)."""

    def __init__(self, name: str, system: System) -> None:
        if name not in FUNCTIONALS:
            raise ConfigError(f"unknown functional {name!r}{suggest(name, FUNCTIONALS)}; valid: "
                              f"{', '.join(FUNCTIONALS)}")
        if name == "exx" and system.electrons > 2:
            raise ConfigError(f"functional exx: exact exchange is the local potential -v_H/2 only for a "
                              f"two-electron singlet (or -v_H for one electron); {system.name} has "
                              f"{system.electrons} electrons")
        if name != "none" and not system.interacting:
            raise ConfigError(f"{system.name} is non-interacting: use functional 'none'")
        self.name, self.system = name, system
        g = system.grid
        # (M, M) w(x_i - x_j) dx: a dense matvec of M = 401 costs microseconds, less than an FFT convolution's setup
        self._w = soft_coulomb(g.x[:, None] - g.x[None, :]) * g.dx if name != "none" else None
        self._polarized = system.electrons == 1
        self._hx = {"hartree": 1.0, "lda": 1.0, "exx": 1.0 - 1.0 / system.electrons}.get(name, 0.0)

    def hartree(self, n: np.ndarray) -> np.ndarray:
        return self._w @ n

    def potential(self, n: np.ndarray) -> np.ndarray:
        """v_Hxc (M,) of density n (M,)."""
        if self.name == "none":
            return np.zeros_like(n)
        v = self._hx * self.hartree(n)
        if self.name == "lda":
            v = v + exchange_lda(n, self._polarized)[1] + correlation_lda(n, self._polarized)[1]
        return v

    def energy(self, n: np.ndarray) -> float:
        """E_Hxc[n] in Ha."""
        if self.name == "none":
            return 0.0
        dx = self.system.grid.dx
        e = 0.5 * self._hx * float(n @ self.hartree(n)) * dx
        if self.name == "lda":
            e += float(np.sum(exchange_lda(n, self._polarized)[0] + correlation_lda(n, self._polarized)[0]) * dx)
        return e
