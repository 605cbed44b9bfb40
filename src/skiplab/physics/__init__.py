"""Real-time propagation of the 1D time-dependent Kohn-Sham equations (numpy/scipy; no torch).

    grid = Grid(half_width=20, dx=0.1)               # uniform grid, 8th-order finite-difference kinetic operator
    ks = KohnSham(preset("he", grid), "lda")         # soft-Coulomb helium, Hartree + LDA (Helbig et al. 2011)
    gs = ground_state(ks)                            # SCF: energy, orbitals, convergence
    traj = propagate(ks, kick(gs.orbitals, grid.x, 1e-3), "etrs", dt=0.05, steps=12_000)
    spec = strength_function(traj.t, traj.dipole, 1e-3)

Forward Euler psi + dt (-i H psi) is a residual update x + h F(x); see claims/ode/tddft_euler for what that means.
"""

from .exact import Reference, one_electron, reference, two_electron
from .functionals import FUNCTIONALS, Functional
from .grid import Grid
from .ground_state import GroundState, ground_state, lowest_states
from .hamiltonian import KohnSham
from .perturbations import Laser, kick
from .propagate import Trajectory, propagate
from .propagators import PROPAGATORS
from .spectrum import Spectrum, match_peaks, peaks, strength_function
from .systems import PRESETS, System, atom, custom, harmonic, molecule, preset

__all__ = ["FUNCTIONALS", "Functional", "Grid", "GroundState", "KohnSham", "Laser", "PRESETS", "PROPAGATORS",
           "Reference", "Spectrum", "System", "Trajectory", "atom", "custom", "ground_state", "harmonic", "kick",
           "lowest_states", "match_peaks", "molecule", "one_electron", "peaks", "preset", "propagate", "reference",
           "strength_function", "two_electron"]
