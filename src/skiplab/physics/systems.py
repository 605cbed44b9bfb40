"""1D model systems in atomic units: soft-Coulomb atoms and molecules, a harmonic well, user potentials.

The soft-Coulomb form 1 / sqrt(d^2 + 1) (Eberly, Javanainen & Rzazewski 1991) removes the 1D Coulomb singularity;
with it the hydrogen ground state is -0.6698 Ha and the electrons interact through w(x - x') = 1 / sqrt((x - x')^2
+ 1). Electrons fill spin-unpolarized Kohn-Sham orbitals two at a time; one electron (N = 1) is the only open shell
allowed, so every functional here has a well-defined spin state (closed shell, or one fully polarized electron).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ..config import suggest
from ..errors import ConfigError
from .grid import Grid

SOFTENING = 1.0  # a in 1 / sqrt(d^2 + a^2): the value the Helbig et al. 2011 LDA was fitted for


def soft_coulomb(d: np.ndarray, a: float = SOFTENING) -> np.ndarray:
    return 1.0 / np.sqrt(d * d + a * a)


@dataclass(frozen=True)
class System:
    """N electrons in the external potential v_ext (M,) on `grid`; `interacting` False drops the e-e interaction
    (a harmonic well can carry it or not). `nuclear` is the nuclear repulsion added to the total energy."""

    name: str
    grid: Grid
    v_ext: np.ndarray
    electrons: int
    nuclear: float = 0.0
    interacting: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.electrons, bool) or not isinstance(self.electrons, (int, np.integer)) or self.electrons < 1:
            raise ConfigError(f"{self.name}: the electron count must be a whole number >= 1, got {self.electrons!r}")
        if self.electrons > 1 and self.electrons % 2:
            raise ConfigError(f"{self.name}: {self.electrons} electrons; spin-unpolarized Kohn-Sham orbitals need "
                              "an even number of electrons, or exactly one")
        if self.v_ext.shape != self.grid.x.shape or not np.all(np.isfinite(self.v_ext)):
            raise ConfigError(f"{self.name}: the external potential must be finite at every one of the "
                              f"{self.grid.size} grid points")
        if (self.electrons + 1) // 2 >= self.grid.size:
            raise ConfigError(f"{self.name}: {self.electrons} electrons do not fit on {self.grid.size} grid points")

    @property
    def orbitals(self) -> int:
        return (self.electrons + 1) // 2

    @property
    def occupations(self) -> np.ndarray:
        """(K,): 2 per orbital, 1 for a lone electron."""
        return np.full(self.orbitals, 1.0 if self.electrons == 1 else 2.0)


def molecule(positions: Sequence[float], charges: Sequence[float], electrons: int, grid: Grid,
             name: str = "molecule") -> System:
    """v_ext = -sum_k Z_k / sqrt((x - X_k)^2 + 1); nuclei repel with the same softened law."""
    if len(positions) != len(charges) or not positions:
        raise ConfigError(f"{name}: give one charge per nucleus (got {len(positions)} positions, {len(charges)} "
                          "charges)")
    v = -sum(z * soft_coulomb(grid.x - x0) for x0, z in zip(positions, charges))
    nn = sum(charges[i] * charges[j] * float(soft_coulomb(np.array(positions[i] - positions[j])))
             for i in range(len(charges)) for j in range(i))
    return System(name, grid, v, electrons, nuclear=nn)


def atom(charge: float, electrons: int, grid: Grid, name: str = "atom") -> System:
    return molecule([0.0], [charge], electrons, grid, name)


def harmonic(omega: float, electrons: int, grid: Grid, interacting: bool = True) -> System:
    """v_ext = omega^2 x^2 / 2: the Kohn (harmonic potential) theorem holds for any interaction."""
    if not (0 < omega < math.inf):
        raise ConfigError(f"harmonic well: omega must be a finite number > 0, got {omega}")
    return System(f"harmonic (omega={omega:g})", grid, 0.5 * omega ** 2 * grid.x ** 2, electrons,
                  interacting=interacting)


def custom(potential: Callable[[np.ndarray], np.ndarray] | np.ndarray, electrons: int, grid: Grid,
           name: str = "custom") -> System:
    """A user potential: a function of x (M,) -> (M,) or an array of values on the grid."""
    v = np.asarray(potential(grid.x) if callable(potential) else potential, dtype=float)
    if v.shape != grid.x.shape:
        raise ConfigError(f"{name}: the potential has shape {v.shape}, the grid {grid.x.shape}")
    return System(name, grid, v, electrons)


# Presets: name -> (nuclear positions, charges, electrons). H2 at its soft-Coulomb bond length ~1.6 bohr.
PRESETS: dict[str, tuple[tuple[float, ...], tuple[float, ...], int]] = {
    "h": ((0.0,), (1.0,), 1),
    "he+": ((0.0,), (2.0,), 1),
    "he": ((0.0,), (2.0,), 2),
    "li+": ((0.0,), (3.0,), 2),
    "h2": ((-0.8, 0.8), (1.0, 1.0), 2),
    "heh+": ((-0.75, 0.75), (2.0, 1.0), 2),
}


def preset(name: str, grid: Grid, omega: float = 0.5, electrons: int | None = None) -> System:
    """A named system; "harmonic" takes omega and electrons (default 2)."""
    if name == "harmonic":
        return harmonic(omega, 2 if electrons is None else electrons, grid)  # not `or`: 0 is refused, not 2
    if name not in PRESETS:
        raise ConfigError(f"unknown system {name!r}{suggest(name, [*PRESETS, 'harmonic'])}; valid: "
                          f"{', '.join([*PRESETS, 'harmonic'])}")
    pos, z, n = PRESETS[name]
    return molecule(pos, z, n if electrons is None else electrons, grid, name)
