"""The Kohn-Sham Hamiltonian H[n](t) = T + v_ext + v_Hxc[n] + v_pert(t) of one system and functional.

Orbitals psi are (M, K) complex, normalized to int |psi_k|^2 dx = 1; the density n = sum_k f_k |psi_k|^2 (M,).
A potential v (M,) stands for the operator T + diag(v); `apply` is H psi without ever forming a matrix (T is a
banded stencil, as a complex CSR matrix so one matvec is one C call).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .functionals import Functional
from .systems import System


class KohnSham:
    def __init__(self, system: System, functional: str) -> None:
        self.system, self.grid = system, system.grid
        self.functional = Functional(functional, system)
        self.f = system.occupations  # (K,)
        g = self.grid
        offsets = list(range(-g.bandwidth, g.bandwidth + 1))
        diags = [np.full(g.size - abs(k), g.stencil[abs(k)]) for k in offsets]
        self.t_csr = sp.diags(diags, offsets, format="csr", dtype=complex)

    def density(self, psi: np.ndarray) -> np.ndarray:
        return (np.abs(psi) ** 2) @ self.f

    def potential(self, n: np.ndarray) -> np.ndarray:
        """v_ext + v_Hxc[n] (M,): the Kohn-Sham potential without the time-dependent perturbation."""
        return self.system.v_ext + self.functional.potential(n)

    def apply(self, psi: np.ndarray, v: np.ndarray) -> np.ndarray:
        """(T + diag(v)) psi for psi (M,) or (M, K)."""
        return self.t_csr @ psi + (v[:, None] * psi if psi.ndim == 2 else v * psi)

    def bands(self, v: np.ndarray) -> np.ndarray:
        """T + diag(v) in LAPACK lower band storage (p + 1, M)."""
        b = self.grid.kinetic_bands()
        b[0] += v
        return b

    def norm(self, psi: np.ndarray) -> float:
        """sum_k f_k int |psi_k|^2 dx: the electron number N while the propagation is unitary."""
        return float(self.grid.integrate(self.density(psi)))

    def energy(self, psi: np.ndarray, v_pert: np.ndarray | None = None) -> float:
        """Total energy: sum_k f_k <psi_k| T + v_ext + v_pert |psi_k> + E_Hxc[n] + E_nuclear (Ha)."""
        v = self.system.v_ext if v_pert is None else self.system.v_ext + v_pert
        hpsi = self.apply(psi, v)
        one = float(np.real(np.sum(np.conj(psi) * hpsi, axis=0)) @ self.f) * self.grid.dx
        return one + self.functional.energy(self.density(psi)) + self.system.nuclear

    def dipole(self, psi: np.ndarray) -> float:
        """<x> = int x n(x) dx (the electrons' dipole, no sign flip)."""
        return float(self.grid.integrate(self.grid.x * self.density(psi)))
