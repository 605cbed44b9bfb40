"""The dipole strength function after a kick, the Thomas-Reiche-Kuhn sum rule, and its peaks.

After psi -> e^{i kappa x} psi at t = 0, linear response gives d(t) - d(0) = 2 kappa sum_k |<0|X|k>|^2 sin(w_k t),
so with the oscillator strengths f_k = 2 w_k |<0|X|k>|^2 the strength function
    S(w) = (2 w / (pi kappa)) int_0^T [d(t) - d(0)] W(t) sin(w t) dt = sum_k f_k delta_W(w - w_k)
has peaks of area f_k at the excitation energies, broadened by the window W (W(0) = 1). The TRK sum rule
sum_k f_k = N holds for S's integral over all w (it equals d'(0+) / kappa = N).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError

WINDOWS = ("polynomial", "exponential", "none")


def window(t: np.ndarray, kind: str = "polynomial", damping: float = 0.0) -> np.ndarray:
    """W(t) on [0, T]: "polynomial" 1 - 3 (t/T)^2 + 2 (t/T)^3 (smooth to 0 at T, the choice of Octopus);
    "exponential" e^{-damping t} (Lorentzian lines of half-width `damping`); "none" 1."""
    if kind not in WINDOWS:
        raise ConfigError(f"unknown window {kind!r}; valid: {', '.join(WINDOWS)}")
    if kind == "none":
        return np.ones_like(t)
    if kind == "exponential":
        if damping <= 0:
            raise ConfigError(f"an exponential window needs a damping > 0, got {damping}")
        return np.exp(-damping * t)
    s = t / t[-1]
    return 1 - 3 * s ** 2 + 2 * s ** 3


@dataclass
class Spectrum:
    omega: np.ndarray  # (F,) Ha, from 0 to pi / dt
    strength: np.ndarray  # (F,) 1 / Ha
    kappa: float

    def trk(self, omega_max: float | None = None) -> float:
        """int_0^omega_max S(w) dw (all w if None): N by the TRK sum rule, less what lies above omega_max."""
        keep = self.omega <= (omega_max if omega_max is not None else np.inf)
        return float(np.sum(self.strength[keep]) * (self.omega[1] - self.omega[0]))


def strength_function(t: np.ndarray, dipole: np.ndarray, kappa: float, kind: str = "polynomial",
                      damping: float = 0.0, resolution: float = 1e-3) -> Spectrum:
    """S(w) on a uniform w grid of spacing <= `resolution` (zero-padded FFT) from dipoles (n,) at uniform times
    t (n,) starting at 0 just after the kick. The sum over samples is the trapezoid rule: the integrand vanishes at
    t = 0 (d(0+) = d(0)) and, with the polynomial window, at T."""
    if kappa == 0 or len(t) < 3:
        raise ConfigError("a strength function needs a kick (kappa != 0) and at least 3 time samples")
    dt = float(t[1] - t[0])
    f = (dipole - dipole[0]) * window(t - t[0], kind, damping)
    n = max(len(t), int(np.ceil(2 * np.pi / (resolution * dt))))
    sin_part = -np.fft.rfft(f, n).imag * dt  # sum_j f_j sin(w_k t_j) dt at w_k = 2 pi k / (n dt)
    omega = 2 * np.pi * np.arange(len(sin_part)) / (n * dt)
    return Spectrum(omega, 2 * omega / (np.pi * kappa) * sin_part, kappa)


def peaks(spec: Spectrum, omega_min: float = 0.05, omega_max: float | None = None,
          threshold: float = 0.02) -> list[dict[str, float]]:
    """Local maxima of S above `threshold` * max S in (omega_min, omega_max], each with its area between the
    neighbouring minima (the oscillator strength the peak carries), sorted by frequency."""
    w, s = spec.omega, spec.strength
    sel = (w > omega_min) & (w <= (omega_max if omega_max is not None else w[-1]))
    idx = np.flatnonzero(sel)
    if len(idx) < 3:
        return []
    top = float(np.max(s[idx]))
    out, dw = [], float(w[1] - w[0])
    for i in idx[1:-1]:
        if s[i] > s[i - 1] and s[i] >= s[i + 1] and s[i] > threshold * top:
            lo, hi = i, i
            while lo > idx[0] and s[lo - 1] < s[lo]:
                lo -= 1
            while hi < idx[-1] and s[hi + 1] < s[hi]:
                hi += 1
            # the parabola through the three top samples locates the maximum between grid points
            a, b, c = s[i - 1], s[i], s[i + 1]
            shift = 0.5 * (a - c) / (a - 2 * b + c) if a - 2 * b + c != 0 else 0.0
            out.append({"omega": float(w[i] + shift * dw), "height": float(b),
                        "strength": float(np.sum(s[lo:hi + 1]) * dw)})
    return out


def match_peaks(found: list[dict[str, float]], excitations: np.ndarray, strengths: np.ndarray,
                min_strength: float = 0.01) -> list[dict[str, float | None]]:
    """Each exact line with f_k >= min_strength against the nearest found peak (None if no peak was found)."""
    rows = []
    for w, f in zip(excitations, strengths):
        if f < min_strength:
            continue
        near = min(found, key=lambda p: abs(p["omega"] - w)) if found else None
        rows.append({"exact_omega": float(w), "exact_strength": float(f),
                     "omega": near["omega"] if near else None, "strength": near["strength"] if near else None})
    return rows
