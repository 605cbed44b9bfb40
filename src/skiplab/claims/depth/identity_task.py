"""The regression tasks of identity-is-easy: y = s x + small(x) with x ~ N(0, I_d), s = +1 (near the identity)
or -1 (its antipode, far from it), and small(x) = eps * tanh(A x), A a fixed Gaussian matrix with N(0, 1/d)
entries (so each (A x)_i is a unit-scale Gaussian and tanh bends it noticeably).

eps is solved for so that E||small(x)||^2 equals the stated `energy_fraction * d` exactly (up to quadrature
error): (A x)_i ~ N(0, ||a_i||^2), so E tanh((A x)_i)^2 is a one-dimensional Gaussian integral, done with
Gauss-Hermite quadrature. Everything is a pure function of the seed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

QUADRATURE_NODES = 80  # Gauss-Hermite nodes: tanh^2 is smooth and bounded, 80 nodes is exact to ~1e-12


@dataclass(frozen=True)
class Task:
    dim: int
    sign: float  # +1: near the identity; -1: far from it
    A: torch.Tensor  # (dim, dim)
    eps: float
    small_energy: float  # E||small(x)||^2, as stated

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.sign * x + self.small(x)

    def small(self, x: torch.Tensor) -> torch.Tensor:
        return self.eps * torch.tanh(x @ self.A.T)


def expected_tanh_sq(std: np.ndarray) -> np.ndarray:
    """E[tanh(std * z)^2] for z ~ N(0, 1), per entry of `std`."""
    z, w = np.polynomial.hermite_e.hermegauss(QUADRATURE_NODES)  # weight exp(-z^2/2), total sqrt(2 pi)
    return (np.tanh(np.outer(std, z)) ** 2) @ w / np.sqrt(2 * np.pi)


def make_task(seed: int, dim: int = 16, energy_fraction: float = 0.05,
              kind: Literal["near", "far"] = "near") -> Task:
    """The task of `seed`: A drawn from a generator seeded by `seed`; E||small||^2 = energy_fraction * dim."""
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(dim, dim, generator=g, dtype=torch.float64) / dim ** 0.5
    target = energy_fraction * dim
    per_unit = float(expected_tanh_sq(A.norm(dim=1).numpy()).sum())  # E||tanh(A x)||^2
    return Task(dim, 1.0 if kind == "near" else -1.0, A.float(), (target / per_unit) ** 0.5, target)


def sample(task: Task, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """n examples (x, y) drawn with `generator`."""
    x = torch.randn(n, task.dim, generator=generator)
    return x, task(x)
