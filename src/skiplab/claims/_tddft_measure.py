"""The measurements behind tddft-euler (claims/tddft_euler.py): Euler's growth law and RK4's stability limit on a
fixed Hamiltonian, the propagators against a small-step reference of the same functional, the kick's known
answers, and spectra (exact vs TDHF vs ALDA). Pure functions of their arguments; the claim holds the thresholds.
Every propagation runs at most `cap` steps (a smoke run's budget); `Budget.capped` records whether one was cut."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..physics import (PROPAGATORS, Grid, GroundState, KohnSham, kick, peaks, preset, propagate, reference,
                       strength_function)

EPS = float(np.finfo(np.float64).eps) / 2  # unit roundoff u
SQRT8 = 2 * math.sqrt(2)  # RK4's stability interval on the imaginary axis: |h E| <= 2 sqrt(2)
FIGURE_POINTS = 300  # samples per curve kept for the figures


class Budget:
    """Caps every propagation at `cap` steps and remembers whether it had to."""

    def __init__(self, cap: int) -> None:
        self.cap, self.capped = cap, False

    def steps(self, want: int) -> int:
        if want > self.cap:
            self.capped = True
        return min(want, self.cap)


def _thin(*arrays: np.ndarray) -> list[list[float]]:
    k = max(1, len(arrays[0]) // FIGURE_POINTS)
    return [np.asarray(a)[::k].tolist() for a in arrays]


def fixed_h(grid: Grid) -> tuple[KohnSham, np.ndarray, np.ndarray]:
    """Hydrogen with independent electrons: H = T + v_ext, fixed. Its eigenpairs (dense; M ~ 150-400)."""
    ks = KohnSham(preset("h", grid), "none")
    e, vecs = np.linalg.eigh(grid.kinetic_dense() + np.diag(ks.system.v_ext))
    return ks, e, vecs / math.sqrt(grid.dx)


def euler_law(grid: Grid, dts: tuple[float, ...], steps: int, kappa: float, budget: Budget) -> dict[str, Any]:
    """Forward Euler on fixed H from a kicked ground state psi = sum_k c_k phi_k: the norm must follow
    sum_k |c_k|^2 (1 + h^2 E_k^2)^n exactly (each mode grows by |1 - i h E_k|); and on the eigenmode phi_0 alone,
    (1 + h^2 E_0^2)^n. Relative deviations over the steps n <= horizon = ln(1e-16 / u^2) / ln(1 + h^2 E_max^2)
    (u = float64's unit roundoff): Euler amplifies every rounding error at the fastest mode's rate, so beyond that
    step a rounding error of relative size u has grown past 1e-16 of the norm and the exact-arithmetic law no
    longer describes the floating-point run (the first quick run, compared over all steps, deviated from step
    101 at dt 0.01 and 40 at dt 0.02 on the eigenmode, where u^2 (1 + h^2 E_max^2)^n reaches 1e-9: 101.7, 39.9).
    `max_rel_dev_all` keeps the deviation over every step."""
    ks, e, phi = fixed_h(grid)
    out: dict[str, Any] = {"runs": []}
    for dt in dts:
        for label, psi in (("kicked ground state", kick(phi[:, [0]], grid.x, kappa)), ("eigenmode E_0", phi[:, [0]])):
            c2 = np.abs(phi.T @ psi[:, 0] * grid.dx) ** 2
            tr = propagate(ks, psi, "euler", dt, budget.steps(steps), energy=False)
            n = np.arange(len(tr.norm))
            theory = (c2[None, :] * (1 + dt * dt * e[None, :] ** 2) ** n[:, None]).sum(axis=1)
            horizon = int(math.log(1e-16 / EPS ** 2) / math.log(1 + dt * dt * float(np.max(e ** 2))))
            dev = np.abs(tr.norm / theory - 1)
            out["runs"].append({"dt": dt, "state": label, "max_rel_dev": float(np.max(dev[: horizon + 1])),
                                "max_rel_dev_all": float(np.max(dev)), "horizon": horizon, "steps": int(n[-1]),
                                "final_norm": float(tr.norm[-1]), "diverged_step": tr.diverged_step,
                                "curve": _thin(n, tr.norm, theory)})
    return out


def rk4_limit(grid: Grid, steps: int, seed: int, budget: Budget) -> dict[str, Any]:
    """RK4's first unstable step h* on fixed H, found by running it: (a) on the eigenmode of largest |E|, bisection
    on 'the norm grew after 20 steps'; (b) a random state (all modes) at 0.99 and 1.02 of the theoretical h*: the
    norm ratio after `steps` steps. Theory: h* |E_max| = 2 sqrt(2)."""
    from ._euler_stability_measure import first_unstable
    ks, e, phi = fixed_h(grid)
    top = int(np.argmax(np.abs(e)))
    e_max, h_theory = float(abs(e[top])), SQRT8 / float(abs(e[top]))
    mode = phi[:, [top]].astype(complex)
    n_mode = budget.steps(20)
    grows = lambda h: propagate(ks, mode, "rk4", h, n_mode, energy=False).norm[-1] > 1 + 1e-12  # noqa: E731
    h_star = first_unstable(lambda h: not grows(h), 2 * h_theory, n=100, tol=1e-9 * h_theory)
    rng = np.random.default_rng(seed)
    psi = rng.standard_normal((grid.size, 1)) + 1j * rng.standard_normal((grid.size, 1))
    psi /= math.sqrt(ks.norm(psi))
    ratios = {}
    for f in (0.99, 1.02):
        tr = propagate(ks, psi, "rk4", f * h_theory, budget.steps(steps), energy=False)
        ratios[f"{f:g}"] = float(tr.norm[-1] / tr.norm[0])
    eu = propagate(ks, psi, "euler", 0.1 * h_theory, budget.steps(steps), energy=False)
    return {"e_max": e_max, "h_theory": h_theory, "h_star": h_star, "mode_steps": n_mode, "random": ratios,
            "random_steps": budget.steps(steps), "euler_at_0.1": float(eu.norm[-1] / eu.norm[0]),
            "euler_diverged_step": eu.diverged_step, "spectrum": e.tolist()}


def kick_answers(ks: KohnSham, gs: GroundState, kappa: float) -> dict[str, Any]:
    """E(0+) - E_gs against N kappa^2 / 2 and d<x>/dt(0+) (one ETRS step of 1e-3) against N kappa."""
    psi = kick(gs.orbitals, ks.grid.x, kappa)
    tr = propagate(ks, psi, "etrs", 1e-3, 1, energy=False)
    n = ks.system.electrons
    return {"kappa": kappa, "electrons": n, "energy": ks.energy(psi) - gs.energy, "energy_theory": n * kappa ** 2 / 2,
            "velocity": (tr.dipole[1] - tr.dipole[0]) / 1e-3, "velocity_theory": n * kappa}


def propagator_study(ks: KohnSham, gs: GroundState, kappa: float, dts: tuple[float, ...], t_end: float, dt_ref: float,
                     h_theory: float, budget: Budget) -> dict[str, Any]:
    """Every propagator at every dt (and RK4 also near h*/2 and h*/4, inside its stable interval) on the same
    kicked system, against RK4 at dt_ref: norm, energy, dipole error max_t |d - d_ref| / max_t |d_ref - d_0| at
    common times (every dt is a whole multiple of dt_ref, so no interpolation enters the error)."""
    psi = kick(gs.orbitals, ks.grid.x, kappa)
    ref = propagate(ks, psi, "rk4", dt_ref, budget.steps(round(t_end / dt_ref)), energy=False)
    scale = float(np.max(np.abs(ref.dipole - ref.dipole[0]))) or 1.0
    runs = []
    rk4 = [dt_ref * max(1, math.floor(h_theory / f / dt_ref)) for f in (2, 4)]
    plan = [(p, dt) for dt in dts for p in PROPAGATORS] + [("rk4", dt) for dt in rk4]
    for name, dt in plan:
        ratio = round(dt / dt_ref)
        tr = propagate(ks, psi, name, ratio * dt_ref, budget.steps(round(t_end / dt)))
        k = len(tr.t)
        d_ref = ref.dipole[::ratio][:k]
        err = (float(np.max(np.abs(tr.dipole[:len(d_ref)] - d_ref)) / scale) if tr.diverged_step is None
               else math.inf)
        runs.append({"propagator": name, "dt": ratio * dt_ref, "steps": k - 1, "diverged_step": tr.diverged_step,
                     "norm_drift": tr.drift("norm") / ks.system.electrons, "energy_drift": tr.drift("energy"),
                     "error": err, "seconds": tr.seconds, "in_rk4_limit": dt <= h_theory,
                     "curves": dict(zip(("t", "norm", "energy", "dipole"), _thin(tr.t, tr.norm, tr.energy, tr.dipole)))})
    return {"dt_ref": dt_ref, "t_end": t_end, "scale": scale, "ref_steps": len(ref.t) - 1, "runs": runs,
            "ground_energy": gs.energy}


def spectrum_run(ks: KohnSham, gs: GroundState, propagator: str, kappa: float, dt: float, t_end: float,
                 budget: Budget) -> dict[str, Any]:
    """Kick, propagate, strength function: TRK integral, peaks below 1.5 Ha."""
    tr = propagate(ks, kick(gs.orbitals, ks.grid.x, kappa), propagator, dt, budget.steps(round(t_end / dt)),
                   energy=False)
    out = {"propagator": propagator, "functional": ks.functional.name, "t_end": float(tr.t[-1]), "dt": dt,
           "ground_energy": gs.energy, "scf_iterations": gs.iterations, "seconds": tr.seconds}
    if len(tr.t) < 3:
        return {**out, "trk": None, "peaks": [], "omega": [], "strength": []}
    spec = strength_function(tr.t, tr.dipole, kappa, resolution=2e-3)
    keep = spec.omega <= 1.5
    return {**out, "trk": spec.trk(), "peaks": peaks(spec, omega_max=1.5),
            "omega": np.round(spec.omega[keep], 5).tolist(), "strength": np.round(spec.strength[keep], 5).tolist()}


def exact_spectrum(system_name: str, grid: Grid, kappa: float, t: np.ndarray) -> dict[str, Any]:
    """The exact lines, and the same window applied to the exact dipole d(t) - d(0) = kappa sum_k (f_k / w_k)
    sin(w_k t), so the exact curve is broadened exactly as the propagated ones."""
    ref = reference(preset(system_name, grid))
    d = kappa * np.sum((ref.strengths / ref.excitations)[None, :] * np.sin(np.outer(t, ref.excitations)), axis=1)
    spec = strength_function(t, d, kappa, resolution=2e-3)
    keep = spec.omega <= 1.5
    return {"ground_energy": ref.ground, "excitations": ref.excitations.tolist(), "strengths": ref.strengths.tolist(),
            "method": ref.method, "omega": np.round(spec.omega[keep], 5).tolist(),
            "strength": np.round(spec.strength[keep], 5).tolist()}


def residual_block_spectra(hs: tuple[float, ...], seed: int) -> dict[str, Any]:
    """z = eigenvalues of d(h F)/dx for the blocks of a residual MLP at initialization (tanh, no norm), per h:
    the residual network's side of the |1 + z| picture (x + h F(x) is Euler with step h)."""
    import torch
    from ..models import create_model
    out = {}
    for h in sorted(hs, reverse=True):  # the largest first: drawn first, under the smaller ones
        torch.manual_seed(seed)
        net = create_model("resmlp", depth=4, width=24, activation="tanh", h=h, in_channels=24).double().eval()
        x = torch.randn(24, dtype=torch.float64)
        zs = []
        for _, block in net.blocks():
            jac = torch.autograd.functional.jacobian(lambda v: block.increment(v[None])[0], x)
            zs.append(np.linalg.eigvals(jac.numpy()))
            x = block(x[None])[0].detach()
        z = np.concatenate(zs)
        out[f"{h:g}"] = {"re": np.round(z.real, 5).tolist(), "im": np.round(z.imag, 5).tolist(),
                         "inside_euler": float(np.mean(np.abs(1 + z) <= 1))}
    return out
