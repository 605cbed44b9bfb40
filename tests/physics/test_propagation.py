"""Propagators on known answers: the kick's energy and current, the Kohn theorem, Crank-Nicolson's unitarity,
Euler's growth law, convergence orders against the exact propagation of a fixed H, and the strength function."""

import numpy as np
import pytest

from skiplab.errors import ConfigError
from skiplab.physics import (PROPAGATORS, Grid, KohnSham, Laser, ground_state, harmonic, kick, one_electron, peaks,
                             preset, propagate, strength_function)


@pytest.fixture(scope="module")
def helium():
    ks = KohnSham(preset("he", Grid(12.0, 0.2)), "lda")
    return ks, ground_state(ks)


def test_kick_energy_and_current(helium):
    ks, gs = helium
    kappa, n = 0.1, 2
    psi = kick(gs.orbitals, ks.grid.x, kappa)
    assert ks.energy(psi) - gs.energy == pytest.approx(n * kappa ** 2 / 2, rel=1e-6)
    tr = propagate(ks, psi, "etrs", 1e-3, 1)
    assert (tr.dipole[1] - tr.dipole[0]) / 1e-3 == pytest.approx(n * kappa, rel=1e-4)


def test_kohn_theorem_harmonic_well_with_lda():
    omega, kappa = 0.5, 0.05
    ks = KohnSham(harmonic(omega, 2, Grid(10.0, 0.1)), "lda")
    gs = ground_state(ks)
    # ETRS: its phase error depends on energy differences only (Crank-Nicolson's on absolute energies: 1e-3 here)
    tr = propagate(ks, kick(gs.orbitals, ks.grid.x, kappa), "etrs", 0.02, 700, energy=False)
    want = 2 * kappa * np.sin(omega * tr.t) / omega
    assert np.max(np.abs(tr.dipole - tr.dipole[0] - want)) < 1e-4 * 2 * kappa / omega


def test_crank_nicolson_conserves_the_norm(helium):
    ks, gs = helium
    laser = Laser(0.05, 0.6, 10.0)
    tr = propagate(ks, kick(gs.orbitals, ks.grid.x, 0.1), "crank-nicolson", 0.05, 300,
                   perturbation=lambda t: laser.potential(ks.grid.x, t))
    assert np.max(np.abs(tr.norm - 2.0)) < 1e-12


def test_euler_grows_an_eigenmode_by_sqrt_one_plus_h2e2_per_step():
    ks = KohnSham(preset("h", Grid(10.0, 0.2)), "none")
    e, vecs = np.linalg.eigh(ks.grid.kinetic_dense() + np.diag(ks.system.v_ext))
    h, steps = 0.01, 60
    for k in (0, 5, len(e) - 1):  # ground state, a box state, the Nyquist mode
        psi = vecs[:, [k]] / np.sqrt(ks.grid.dx)
        tr = propagate(ks, psi, "euler", h, steps, energy=False)
        n = np.arange(len(tr.norm))
        np.testing.assert_allclose(tr.norm, (1 + h * h * e[k] ** 2) ** n, rtol=1e-11)


def _exact_dipole(ks, psi0, t):
    """d(t) of a fixed H by its eigendecomposition: psi(t) = sum_k c_k e^{-i E_k t} phi_k."""
    e, vecs = np.linalg.eigh(ks.grid.kinetic_dense() + np.diag(ks.system.v_ext))
    c = vecs.T @ psi0[:, 0] * np.sqrt(ks.grid.dx)
    xm = vecs.T @ (ks.grid.x[:, None] * vecs)
    phase = np.exp(-1j * np.outer(t, e)) * c
    return np.real(np.einsum("ti,ij,tj->t", phase.conj(), xm, phase))


@pytest.mark.parametrize("name,order", [("crank-nicolson", 2), ("rk4", 4), ("exponential-midpoint", None),
                                        ("etrs", None)])
def test_fixed_h_against_its_exact_propagation(name, order):
    """Fixed H: Crank-Nicolson converges at order 2, RK4 at 4; the exponential propagators are exact (Lanczos)."""
    ks = KohnSham(preset("h", Grid(10.0, 0.4)), "none")
    psi = kick(ground_state(ks).orbitals, ks.grid.x, 0.1)
    errs = []
    for dt in (0.04, 0.02):
        tr = propagate(ks, psi, name, dt, round(4.0 / dt), energy=False)
        errs.append(np.max(np.abs(tr.dipole - _exact_dipole(ks, psi, tr.t))))
    if order is None:
        assert max(errs) < 1e-10
    else:
        assert np.log2(errs[0] / errs[1]) == pytest.approx(order, abs=0.25)


@pytest.mark.parametrize("name", ["crank-nicolson", "exponential-midpoint", "etrs"])
def test_second_order_with_a_time_dependent_density_dependent_h(name):
    """Helium (Hartree) in a laser pulse: against RK4 at a 20x smaller step, every unitary propagator is 2nd order."""
    ks = KohnSham(preset("he", Grid(8.0, 0.4)), "hartree")
    psi = ground_state(ks).orbitals
    laser = Laser(0.1, 0.6, 3.0)
    pert = lambda t: laser.potential(ks.grid.x, t)  # noqa: E731
    ref = propagate(ks, psi, "rk4", 0.002, 1500, perturbation=pert, energy=False).dipole[::20]
    errs = [np.max(np.abs(propagate(ks, psi, name, dt, round(3.0 / dt), perturbation=pert,
                                    energy=False).dipole[:: round(0.04 / dt)] - ref)) for dt in (0.04, 0.02)]
    assert np.log2(errs[0] / errs[1]) == pytest.approx(2, abs=0.3)


def test_hydrogen_spectrum_peaks_and_trk_sum_rule():
    ks = KohnSham(preset("h", Grid(15.0, 0.2)), "none")
    kappa = 1e-3
    tr = propagate(ks, kick(ground_state(ks).orbitals, ks.grid.x, kappa), "crank-nicolson", 0.1, 2500, energy=False)
    spec = strength_function(tr.t, tr.dipole, kappa)
    assert spec.trk() == pytest.approx(1.0, abs=1e-3)
    ref = one_electron(ks.system)
    first = peaks(spec, omega_max=1.0)[0]
    assert first["omega"] == pytest.approx(ref.excitations[0], abs=0.25 * 2 * np.pi / tr.t[-1])
    assert first["strength"] == pytest.approx(ref.strengths[0], rel=0.05)


def test_bad_propagation_input():
    ks = KohnSham(preset("h", Grid(5.0, 0.5)), "none")
    psi = ground_state(ks).orbitals
    with pytest.raises(ConfigError, match="did you mean"):
        propagate(ks, psi, "etsr", 0.1, 1)
    with pytest.raises(ConfigError):
        propagate(ks, psi, "etrs", -0.1, 1)
    assert set(PROPAGATORS) == {"euler", "rk4", "crank-nicolson", "exponential-midpoint", "etrs"}
