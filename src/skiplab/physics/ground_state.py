"""Self-consistent ground state of the Kohn-Sham equations by banded diagonalization and density mixing."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.linalg import eig_banded

from .hamiltonian import KohnSham


def lowest_states(ks: KohnSham, v: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k lowest eigenpairs of T + diag(v): energies (k,), orbitals (M, k) with int |psi|^2 dx = 1 and the
    largest-magnitude value of each positive (a reproducible sign)."""
    e, vec = eig_banded(ks.bands(v), lower=True, select="i", select_range=(0, k - 1))
    psi = vec / np.sqrt(ks.grid.dx)
    idx = np.argmax(np.abs(psi), axis=0)
    return e, psi * np.sign(psi[idx, np.arange(k)])


@dataclass
class GroundState:
    orbitals: np.ndarray  # (M, K) real
    eigenvalues: np.ndarray  # (K,)
    density: np.ndarray  # (M,)
    energy: float
    iterations: int
    residual: float  # int |n_out - n_in| dx at the last iteration
    converged: bool
    tolerance: float
    history: list[float] = field(default_factory=list)  # residual per iteration


def ground_state(ks: KohnSham, mixing: float = 0.5, tol: float = 1e-10, max_iter: int = 300,
                 history: int = 5) -> GroundState:
    """SCF: n_in -> v[n_in] -> lowest orbitals -> n_out until int |n_out - n_in| dx < tol. Mixing is Anderson's
    (Pulay/DIIS on the residual n_out - n_in over the last `history` iterations) with linear mixing `mixing` on
    top, the usual choice because plain linear mixing needs many iterations when the Hartree response is strong.
    Starts from the independent-electron density. A run that does not converge is returned with converged=False
    (a result to report, not an error)."""
    k = ks.system.orbitals
    e, psi = lowest_states(ks, ks.system.v_ext, k)
    n_in = ks.density(psi)
    xs, rs, res_hist = [], [], []
    res = np.inf
    for it in range(1, max_iter + 1):
        e, psi = lowest_states(ks, ks.potential(n_in), k)
        n_out = ks.density(psi)
        r = n_out - n_in
        res = float(ks.grid.integrate(np.abs(r)))
        res_hist.append(res)
        if res < tol or ks.functional.name == "none":
            return GroundState(psi, e, n_out, ks.energy(psi), it, res, True, tol, res_hist)
        xs, rs = (xs + [n_in])[-history:], (rs + [r])[-history:]
        if len(rs) > 1:  # minimize |sum c_i r_i| with sum c_i = 1
            dr = np.array([rs[i] - rs[-1] for i in range(len(rs) - 1)]).T
            dn = np.array([xs[i] - xs[-1] for i in range(len(xs) - 1)]).T
            c = np.linalg.lstsq(dr, -rs[-1], rcond=None)[0]
            n_bar, r_bar = xs[-1] + dn @ c, rs[-1] + dr @ c
        else:
            n_bar, r_bar = n_in, r
        n_in = np.maximum(n_bar + mixing * r_bar, 0.0)
        n_in *= ks.system.electrons / ks.grid.integrate(n_in)
    return GroundState(psi, e, ks.density(psi), ks.energy(psi), max_iter, res, False, tol, res_hist)
