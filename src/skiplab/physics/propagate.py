"""The time loop: propagate orbitals with a named propagator and record norm, energy and dipole per step."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
from threadpoolctl import threadpool_limits

from ..config import suggest
from ..errors import ConfigError
from .hamiltonian import KohnSham
from .propagators import PROPAGATORS, Perturbation

BLOWUP = 1e6  # a norm this many times N is a divergence: the run stops there and says so (data, not a crash)


@dataclass
class Trajectory:
    """Observables at t = 0, every*dt, ...: arrays (n,). `diverged_step` is the step at which the norm left
    [0, BLOWUP * N] or turned non-finite (None if it never did)."""

    propagator: str
    dt: float
    t: np.ndarray
    norm: np.ndarray
    energy: np.ndarray
    dipole: np.ndarray
    psi: np.ndarray  # (M, K) at the last recorded time
    seconds: float
    diverged_step: int | None = None

    def drift(self, key: str) -> float:
        """max |q(t) - q(0)| of "norm" or "energy" over the run."""
        q = getattr(self, key)
        return float(np.max(np.abs(q - q[0]))) if len(q) else math.nan


def make_propagator(name: str, ks: KohnSham, perturbation: Perturbation | None = None):
    if name not in PROPAGATORS:
        raise ConfigError(f"unknown propagator {name!r}{suggest(name, list(PROPAGATORS))}; valid: "
                          f"{', '.join(PROPAGATORS)}")
    return PROPAGATORS[name](ks, perturbation)


class _Recorder:
    """Observables appended at each recorded time."""

    def __init__(self, ks: KohnSham, perturbation: Perturbation | None, energy: bool) -> None:
        self.ks, self.pert, self.with_energy = ks, perturbation, energy
        self.t: list[float] = []
        self.norm: list[float] = []
        self.energy: list[float] = []
        self.dipole: list[float] = []
        self.limit = BLOWUP * ks.system.electrons

    def __call__(self, psi: np.ndarray, t: float) -> bool:
        """Record; False once the norm has blown up (or is not finite)."""
        n = self.ks.norm(psi)
        ok = math.isfinite(n) and n < self.limit
        self.t.append(t), self.norm.append(n), self.dipole.append(self.ks.dipole(psi))
        vp = self.pert(t) if self.pert is not None else None
        self.energy.append(self.ks.energy(psi, vp) if self.with_energy and ok else math.nan)
        return ok


def propagate(ks: KohnSham, psi0: np.ndarray, propagator: str, dt: float, steps: int,
              perturbation: Perturbation | None = None, every: int = 1, energy: bool = True,
              progress: Callable[[int], None] | None = None) -> Trajectory:
    """`steps` steps of size dt from psi0 (M, K) at t = 0; observables every `every` steps (energy optional: it
    costs a Hamiltonian application). `progress(k)` is called with the number of steps done so far."""
    if not (dt > 0 and math.isfinite(dt)):
        raise ConfigError(f"the time step must be > 0, got {dt}")
    if steps < 0 or every < 1:
        raise ConfigError(f"steps must be >= 0 and every >= 1, got steps={steps}, every={every}")
    prop = make_propagator(propagator, ks, perturbation)
    rec = _Recorder(ks, perturbation, energy)
    psi, diverged, t0 = psi0.astype(complex), None, time.perf_counter()
    rec(psi, 0.0)
    with threadpool_limits(1):  # M ~ 400 vectors: BLAS threads cost 40x more than they save (measured)
        for k in range(1, steps + 1):
            psi = prop.step(psi, (k - 1) * dt, dt)
            if (k % every == 0 or k == steps) and not rec(psi, k * dt):
                diverged = k
                break
            if progress is not None and (k % 100 == 0 or k == steps):
                progress(k)
    return Trajectory(prop.name, dt, np.array(rec.t), np.array(rec.norm), np.array(rec.energy),
                      np.array(rec.dipole), psi, time.perf_counter() - t0, diverged)
