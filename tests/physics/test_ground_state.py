"""Ground states and exact references on known answers."""

import numpy as np
import pytest

from skiplab.errors import ConfigError
from skiplab.physics import Grid, KohnSham, ground_state, harmonic, one_electron, preset, two_electron


def test_soft_coulomb_hydrogen_ground_state_energy():
    # -0.6698 Ha (Eberly et al.); the grid is converged: halving dx moves the energy by < 1e-9
    e = [ground_state(KohnSham(preset("h", Grid(20.0, dx)), "none")).energy for dx in (0.1, 0.05)]
    assert e[0] == pytest.approx(-0.6698, abs=1e-4)
    assert abs(e[0] - e[1]) < 1e-9


def test_exact_exchange_removes_one_electrons_self_interaction():
    g = Grid(20.0, 0.1)
    exx = ground_state(KohnSham(preset("h", g), "exx"))
    assert exx.energy == pytest.approx(ground_state(KohnSham(preset("h", g), "none")).energy, abs=1e-12)
    assert exx.converged


@pytest.mark.parametrize("functional", ["hartree", "exx", "lda"])
def test_scf_converges_and_reports_it(functional):
    gs = ground_state(KohnSham(preset("he", Grid(15.0, 0.2)), functional), tol=1e-10)
    assert gs.converged and gs.residual < 1e-10 and gs.iterations == len(gs.history) < 60
    assert Grid(15.0, 0.2).integrate(gs.density) == pytest.approx(2.0, abs=1e-12)


def test_hartree_fock_lies_above_the_exact_helium_energy():
    g = Grid(15.0, 0.2)
    hf, exact = ground_state(KohnSham(preset("he", g), "exx")).energy, two_electron(preset("he", g), states=3).ground
    assert exact == pytest.approx(-2.2383, abs=2e-4)  # soft-Coulomb helium
    assert exact < hf < exact + 0.05  # variational, and the correlation energy of a 1D two-electron atom is small


def test_two_electron_reference_without_interaction_is_twice_one_electron():
    g = Grid(8.0, 0.25)
    sys2 = harmonic(0.7, 2, g, interacting=False)
    ref = two_electron(sys2, states=4)
    one = KohnSham(harmonic(0.7, 2, g, interacting=False), "none")
    assert ref.ground == pytest.approx(ground_state(one).energy, abs=1e-9)
    assert ref.ground == pytest.approx(0.7, abs=1e-6)  # 2 x omega / 2


def test_kohn_theorem_in_the_exact_two_electron_spectrum():
    # with any interaction, the harmonic well's dipole couples the ground state to one line at omega carrying the
    # whole TRK sum N = 2
    ref = two_electron(harmonic(0.5, 2, Grid(10.0, 0.25)), states=6)
    k = int(np.argmax(ref.strengths))
    assert ref.excitations[k] == pytest.approx(0.5, abs=1e-6)
    assert ref.strengths[k] == pytest.approx(2.0, abs=1e-6)


def test_one_electron_reference_sum_rule_and_errors():
    ref = one_electron(preset("h", Grid(20.0, 0.1)), states=200)
    assert ref.ground == pytest.approx(-0.6698, abs=1e-4)
    assert ref.excitations[0] == pytest.approx(0.3949, abs=1e-4) and ref.strengths[0] > 0.8
    assert ref.strengths.sum() == pytest.approx(1.0, abs=1e-3)  # TRK, all but the highest box states
    with pytest.raises(ConfigError):
        one_electron(preset("he", Grid(20.0, 0.1)))
    with pytest.raises(ConfigError):
        preset("he", Grid(20.0, 0.1), electrons=3)
    with pytest.raises(ConfigError, match="did you mean"):
        preset("hee", Grid(20.0, 0.1))
