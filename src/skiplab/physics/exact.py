"""Exact references: one electron by diagonalizing T + v_ext, two electrons by diagonalizing the two-particle
Hamiltonian on the 2D grid (x1, x2). Energies, excitation energies and dipole oscillator strengths
f_k = 2 (E_k - E_0) |<0| X |k>|^2 (X = sum_i x_i), whose sum over all k is N (Thomas-Reiche-Kuhn)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.linalg import eig_banded
from scipy.sparse.linalg import eigsh

from ..errors import ConfigError
from .systems import System, soft_coulomb


@dataclass
class Reference:
    """energies (k,) of the ground state and the states dipole-coupled to it (two electrons: singlets only);
    excitations (k-1,) = E_k - E_0 and strengths (k-1,) = f_k."""

    energies: np.ndarray
    excitations: np.ndarray
    strengths: np.ndarray
    method: str

    @property
    def ground(self) -> float:
        return float(self.energies[0])


def _strengths(e: np.ndarray, vec: np.ndarray, xop: np.ndarray) -> np.ndarray:
    """f_k = 2 (E_k - E_0) |<0|X|k>|^2 for unit eigenvectors (columns of vec); X diagonal (xop)."""
    return 2 * (e[1:] - e[0]) * np.abs(vec[:, 0] @ (xop[:, None] * vec[:, 1:])) ** 2


def one_electron(system: System, states: int = 20) -> Reference:
    """Every bound and box state below `states`: the exact answer for one electron on this grid."""
    if system.electrons != 1:
        raise ConfigError(f"one-electron reference for {system.name}, which has {system.electrons} electrons")
    b = system.grid.kinetic_bands()
    b[0] += system.v_ext
    k = min(states, system.grid.size)
    e, vec = eig_banded(b, lower=True, select="i", select_range=(0, k - 1))
    return Reference(e, e[1:] - e[0], _strengths(e, vec, system.grid.x), "diagonalization, 1 electron")


def two_electron(system: System, states: int = 16) -> Reference:
    """The lowest `states` singlet eigenstates of H = T1 + T2 + v(x1) + v(x2) + w(x1 - x2) (+ E_nuclear) on the 2D grid by
    shift-invert Lanczos in the singlet (spatially symmetric) subspace: triplets have no dipole coupling to the
    singlet ground state. M^2 unknowns: use dx >= 0.2 on a +-20 box for seconds, not minutes."""
    if system.electrons != 2:
        raise ConfigError(f"two-electron reference for {system.name}, which has {system.electrons} electrons")
    g = system.grid
    m = g.size
    if m * m > 250_000:
        raise ConfigError(f"two-electron reference: {m}^2 grid points is too many (at most 250,000; use a coarser "
                          "dx or a smaller box for the reference)")
    t = sp.diags([np.full(m - abs(k), g.stencil[abs(k)]) for k in range(-g.bandwidth, g.bandwidth + 1)],
                 list(range(-g.bandwidth, g.bandwidth + 1)), format="csr")
    eye = sp.identity(m, format="csr")
    w = soft_coulomb(g.x[:, None] - g.x[None, :]) if system.interacting else np.zeros((m, m))
    v2 = (system.v_ext[:, None] + system.v_ext[None, :] + w).ravel()
    h = (sp.kron(t, eye) + sp.kron(eye, t) + sp.diags(v2)).tocsc()
    # Singlets only: the spatially symmetric subspace, basis (|i j> + |j i>) / sqrt(2) for i < j and |i i>. Half the
    # unknowns: the sparse LU behind shift-invert is about 4x cheaper than on the full grid.
    i, j = np.triu_indices(m)
    cols = np.arange(len(i))
    val = np.where(i == j, 1.0, np.sqrt(0.5))
    p = sp.csr_matrix((np.concatenate([val, val[i != j]]),
                       (np.concatenate([i * m + j, (j * m + i)[i != j]]), np.concatenate([cols, cols[i != j]]))),
                      shape=(m * m, len(i)))
    hs = (p.T @ h @ p).tocsc()
    # A shift just below the spectrum: H >= (T + v)_1 + (T + v)_2 + min w >= 2 e_0 + min w as matrices, so the
    # nearest eigenvalues to sigma are the lowest, and a sigma this close makes shift-invert converge fast.
    b = g.kinetic_bands()
    b[0] += system.v_ext
    e0 = float(eig_banded(b, lower=True, select="i", select_range=(0, 0), eigvals_only=True)[0])
    sigma = 2 * e0 + float(w.min()) - 0.05
    e, vec = eigsh(hs, k=min(states, hs.shape[0] - 2), sigma=sigma, which="LM")
    order = np.argsort(e)
    e, vec = e[order] + system.nuclear, p @ vec[:, order]
    xop = (g.x[:, None] + g.x[None, :]).ravel()
    return Reference(e, e[1:] - e[0], _strengths(e, vec, xop), "diagonalization on the 2D grid, singlets")


def reference(system: System, states: int | None = None) -> Reference | None:
    """The exact reference where one exists here (N = 1 or 2), else None."""
    if system.electrons == 1:
        return one_electron(system, states or 20)
    if system.electrons == 2:
        return two_electron(system, states or 16)
    return None
