"""Perturbations: a delta kick at t = 0 and a laser pulse in the dipole (length-gauge) coupling v(x, t) = x E(t)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError


def kick(psi: np.ndarray, x: np.ndarray, kappa: float) -> np.ndarray:
    """psi -> e^{i kappa x} psi (M, K): the impulse of a field -kappa delta(t) x. It leaves the density and dipole
    unchanged and adds momentum kappa per electron: E(0+) - E(0) = N kappa^2 / 2, d<x>/dt(0+) = N kappa (for a
    ground state, whose current vanishes)."""
    return np.exp(1j * kappa * x)[:, None] * psi


@dataclass(frozen=True)
class Laser:
    """E(t) = amplitude * sin^2(pi t / duration) * sin(omega t + phase) for 0 <= t <= duration, else 0 (a sin^2
    envelope: smooth switch-on, no DC component of note)."""

    amplitude: float
    omega: float
    duration: float
    phase: float = 0.0

    def __post_init__(self) -> None:
        # finite too: sin(inf * t) is NaN, which the propagation would only meet as a failed eigensolver
        if not (0 < self.omega < math.inf and 0 < self.duration < math.inf and math.isfinite(self.amplitude)
                and math.isfinite(self.phase)):
            raise ConfigError(f"laser: omega and duration must be finite and > 0, the amplitude and phase finite; "
                              f"got omega={self.omega}, duration={self.duration}, amplitude={self.amplitude}, "
                              f"phase={self.phase}")

    def field(self, t: float) -> float:
        if not 0.0 <= t <= self.duration:
            return 0.0
        return self.amplitude * math.sin(math.pi * t / self.duration) ** 2 * math.sin(self.omega * t + self.phase)

    def potential(self, x: np.ndarray, t: float) -> np.ndarray | None:
        e = self.field(t)
        return None if e == 0.0 else e * x
