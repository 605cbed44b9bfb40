"""The measurements behind tddft-euler (rule.py): Euler's growth law and RK4's stability limit on a
fixed Hamiltonian, the propagators against a small-step reference of the same functional, the kick's known
answers, and spectra (exact vs TDHF vs ALDA). Pure functions of their arguments; the claim holds the thresholds.
Every propagation runs at most `cap` steps (a smoke run's budget); `Budget.capped` records whether one was cut."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from skiplab import config as C
from skiplab.claims.core.contract import Context
from skiplab.claims.core.scale import resolve_scale
from skiplab.errors import ConfigError
from skiplab.probes.stability import first_unstable

from .rule import SQRT8

from skiplab.physics import (PROPAGATORS, Grid, GroundState, KohnSham, ground_state, kick, peaks, preset, propagate, reference,
                       strength_function)

EPS = float(np.finfo(np.float64).eps) / 2  # unit roundoff u
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
    from skiplab.models import create_model
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


@dataclass(frozen=True)
class TddftScale:
    box: float = C.option(15.0, "half-width of the box (bohr)")
    dx: float = C.option(0.2, "grid spacing (bohr); kinetic operator 8th-order finite differences")
    kappa: float = C.option(1e-3, "kick strength for dynamics and spectra (linear response)")
    law_kappa: float = C.option(0.5, "kick of the state on which Euler's growth law is checked (many modes)")
    euler_dts: tuple[float, ...] = C.option((0.005, 0.01, 0.02), "time steps of the Euler growth-law runs")
    euler_steps: int = C.option(200, "Euler steps per growth-law run (stops at a norm of 1e6 N)")
    rk4_steps: int = C.option(2000, "RK4 steps of the random-state stability bracket")
    dts: tuple[float, ...] = C.option((0.05, 0.025, 0.0125), "time steps of every propagator (multiples of dt_ref)")
    dt_ref: float = C.option(0.0025, "step of the RK4 reference (same functional)")
    t_check: float = C.option(20.0, "propagation time of the propagator comparison (a.u.)")
    dt_spectrum: float = C.option(0.05, "time step of the spectra")
    t_spectrum: float = C.option(300.0, "propagation time of the spectra (a.u.; resolution ~ 2 pi / T)")
    steps: int = C.option(10 ** 9, "cap on the steps of every propagation (a smoke run sets it)")


QUICK = TddftScale()


FULL = TddftScale(box=20.0, dx=0.1, euler_steps=400, rk4_steps=4000, dt_ref=0.00125, t_check=40.0,
                  t_spectrum=600.0)


def scale_config(ctx: Context) -> TddftScale:
    s = resolve_scale(ctx, QUICK, FULL, steps_key="steps")
    for dt in s.dts:
        if abs(dt / s.dt_ref - round(dt / s.dt_ref)) > 1e-9:
            raise ConfigError(f"tddft-euler: dt {dt:g} is not a whole multiple of dt_ref {s.dt_ref:g}")
    return s


def runs(ctx: Context):
    scale_config(ctx)  # a bad --set fails here, before any claim runs
    return []  # no training: the physics is computed in measure()


def budget(ctx: Context) -> str:
    s = scale_config(ctx)
    cap = "" if s.steps >= 10 ** 9 else f"; every propagation capped at {s.steps} steps"
    return (f"1D grid +-{s.box:g} bohr, dx {s.dx:g} (8th-order FD), float64; propagator study t = {s.t_check:g} at dt "
            f"{', '.join(f'{d:g}' for d in s.dts)} vs RK4 at {s.dt_ref:g}; spectra t = {s.t_spectrum:g} at dt "
            f"{s.dt_spectrum:g}, kick {s.kappa:g}; deterministic (the first seed draws the RK4 bracket's random "
            f"state; more seeds add nothing){cap}")


def measure(ctx: Context, done: Any) -> dict[str, Any]:
    s, t0 = scale_config(ctx), time.perf_counter()
    grid, b = Grid(s.box, s.dx, 8), Budget(s.steps)
    ev: dict[str, Any] = {"scale": C.to_dict(s)}
    ev["euler"] = euler_law(grid, s.euler_dts, s.euler_steps, s.law_kappa, b)
    ev["rk4"] = rk4_limit(grid, s.rk4_steps, (ctx.seed_list or [0])[0], b)  # deterministic but for this seed
    cache: dict[tuple[str, str], tuple[KohnSham, Any]] = {}

    def system(name: str, functional: str) -> tuple[KohnSham, Any]:  # one SCF per system and functional
        if (name, functional) not in cache:
            ks = KohnSham(preset(name, grid), functional)
            cache[name, functional] = ks, ground_state(ks)
        return cache[name, functional]

    ev["kick"] = kick_answers(*system("he", "lda"), 0.1)
    h_th = ev["rk4"]["h_theory"]
    dt_ref = s.dt_ref / math.ceil(s.dt_ref / (h_th / 10))  # inside RK4's limit with room; the dts stay multiples
    ev["study"] = propagator_study(*system("he", "lda"), s.kappa, s.dts, s.t_check, dt_ref, h_th, b)

    spectra = {}
    for name, functional, propagator in (("h", "exx", "etrs"), ("h", "lda", "etrs"), ("he", "exx", "etrs"),
                                         ("he", "lda", "etrs"), ("he", "lda", "crank-nicolson"),
                                         ("he", "lda", "exponential-midpoint")):
        spectra[f"{name} {functional} {propagator}"] = spectrum_run(*system(name, functional), propagator,
                                                                       s.kappa, s.dt_spectrum, s.t_spectrum, b)
    ev["spectra"] = spectra
    t_end = next(iter(spectra.values()))["t_end"]
    times = np.arange(0, max(3, round(t_end / s.dt_spectrum) + 1)) * s.dt_spectrum
    ev["exact"] = {name: exact_spectrum(name, grid, s.kappa, times) for name in ("h", "he")}
    ev["blocks"] = residual_block_spectra((1.0, 5.0, 15.0), 0)
    ev["capped"] = b.capped
    ev["seconds"] = time.perf_counter() - t0
    return ev
