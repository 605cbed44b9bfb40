"""`skiplab tddft`: ground state, then real-time propagation of the 1D time-dependent Kohn-Sham equations after a
kick or in a laser pulse; prints a summary, writes observables (NPZ + JSON) and plots to --out."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any, Optional

import numpy as np
import typer

from .._atomic import atomic_path, write_json
from ..errors import ConfigError, DataError
from .common import out_console, user_errors
from .outputs import check_output

FILES = ("observables.npz", "summary.json", "tddft.png")  # what --out receives


def _potential_file(path: Path, x: np.ndarray) -> np.ndarray:
    """Two whitespace-separated columns x, v(x) (bohr, Ha), interpolated linearly onto the grid."""
    try:
        data = np.loadtxt(path, ndmin=2)
    except (OSError, ValueError) as e:
        raise DataError(f"--potential {path}: cannot read two numeric columns x, v ({e})") from None
    if data.shape[1] != 2 or len(data) < 2 or not np.all(np.isfinite(data)):
        raise DataError(f"--potential {path}: expected >= 2 rows of two finite columns x, v; got shape {data.shape}")
    if np.any(np.diff(data[:, 0]) <= 0) or data[0, 0] > x[0] or data[-1, 0] < x[-1]:
        raise DataError(f"--potential {path}: x must increase and cover the box [{x[0]:g}, {x[-1]:g}]")
    return np.interp(x, data[:, 0], data[:, 1])


def _check(dt: float, t_end: float, kick: float, every: int, electrons: Optional[int], exact_dx: float) -> None:
    if electrons is not None and electrons < 1:  # checked here: a 0 must not fall back to the system's own count
        raise ConfigError(f"--electrons must be >= 1, got {electrons}")
    if not (exact_dx > 0 and math.isfinite(exact_dx)):
        raise ConfigError(f"--exact-dx must be a finite number > 0, got {exact_dx}")
    if not (dt > 0 and math.isfinite(dt)):
        raise ConfigError(f"--dt must be > 0, got {dt}")
    if not (t_end >= dt and math.isfinite(t_end)):
        raise ConfigError(f"--t-end must be >= --dt ({dt}), got {t_end}")
    if not math.isfinite(kick):
        raise ConfigError(f"--kick must be finite, got {kick}")
    if every < 1:
        raise ConfigError(f"--every must be >= 1, got {every}")


@user_errors
def tddft(
    system: str = typer.Option("he", "--system", help="h, he+, he, li+, h2, heh+ (soft-Coulomb) or harmonic"),
    functional: str = typer.Option("lda", "--functional", help="none, hartree, exx (TDHF, N <= 2) or lda"),
    propagator: str = typer.Option("etrs", "--propagator",
                                   help="euler, rk4, crank-nicolson, exponential-midpoint or etrs"),
    kick: float = typer.Option(1e-3, "--kick", help="kick strength kappa (psi -> e^{i kappa x} psi); 0 = none"),
    laser: Optional[str] = typer.Option(None, "--laser", help="E0,omega,duration: a sin^2 pulse x E(t)"),
    t_end: float = typer.Option(600.0, "--t-end", help="propagation time (a.u.)"),
    dt: float = typer.Option(0.05, "--dt", help="time step (a.u.)"),
    dx: float = typer.Option(0.1, "--dx", help="grid spacing (bohr)"),
    box: float = typer.Option(20.0, "--box", help="half-width of the box (bohr)"),
    order: int = typer.Option(8, "--order", help="finite-difference order of the kinetic operator"),
    electrons: Optional[int] = typer.Option(None, "--electrons", help="override the system's electron count"),
    omega: float = typer.Option(0.5, "--omega", help="harmonic: the well's frequency"),
    potential: Optional[Path] = typer.Option(None, "--potential", help="file of two columns x, v_ext(x): replaces "
                                                                       "the system's external potential"),
    every: int = typer.Option(1, "--every", help="record observables every N steps"),
    exact: bool = typer.Option(True, "--exact/--no-exact", help="exact reference for 1 or 2 electrons"),
    exact_dx: float = typer.Option(0.2, "--exact-dx", help="grid spacing of the 2-electron reference (2D grid)"),
    out: Path = typer.Option(Path("runs/tddft"), "--out", help="folder for observables.npz, summary.json, plots"),
) -> None:
    """Real-time TDDFT in 1D: e.g. `skiplab tddft --system he --functional lda --propagator etrs --kick 1e-3
    --t-end 600 --dt 0.05`."""
    from ..physics import (Grid, KohnSham, Laser, custom, ground_state, kick as do_kick, match_peaks, peaks, preset,
                           propagate, reference, strength_function)
    _check(dt, t_end, kick, every, electrons, exact_dx)
    grid = Grid(box, dx, order)
    sysm = preset(system, grid, omega=omega, electrons=electrons)
    if potential is not None:
        sysm = custom(_potential_file(potential, grid.x), sysm.electrons, grid, name=f"{system} with {potential.name}")
    pulse = None
    if laser is not None:
        try:
            e0, w, dur = (float(v) for v in laser.split(","))
        except ValueError:
            raise ConfigError(f"--laser must be E0,omega,duration (three numbers), got {laser!r}") from None
        pulse = Laser(e0, w, dur)
    if kick == 0 and pulse is None:
        raise ConfigError("nothing perturbs the system: give --kick (non-zero) or --laser")
    ks = KohnSham(sysm, functional)
    from ..physics.propagate import make_propagator
    make_propagator(propagator, ks)  # an unknown name fails here, before any work
    steps = round(t_end / dt)
    rgrid = None  # the exact reference's grid, built now so that a bad --exact-dx fails before any work
    if exact and sysm.electrons <= 2 and potential is None:
        try:
            rgrid = grid if sysm.electrons == 1 else Grid(box, max(dx, exact_dx), order)
        except ConfigError as e:
            raise ConfigError(f"--exact-dx {exact_dx:g}: {e}") from None
    # the folder is checked before the propagation, which can take minutes: an unwritable --out fails now
    check_output(out, "--out", folder=True, files=FILES)

    gs = ground_state(ks)
    def say(text: str) -> None:  # in full: soft-wrapped lines are never cut, and a bracket in a path is not markup
        out_console.print(text, markup=False)
    say(f"{sysm.name}: {sysm.electrons} electron(s), {functional}, grid +-{box:g} bohr, dx {dx:g} ({grid.size} "
        f"points, order {order})")
    say(f"ground state: E = {gs.energy:.8f} Ha, eigenvalues {np.array2string(gs.eigenvalues, precision=5)}; SCF "
        f"{'converged' if gs.converged else 'NOT converged'} in {gs.iterations} iterations (int|n_out - n_in| = "
        f"{gs.residual:.1e}, tolerance {gs.tolerance:.0e})")
    ref = None
    if rgrid is not None:
        ref = reference(sysm if rgrid is grid else preset(system, rgrid, omega=omega, electrons=electrons))
        say(f"exact reference ({ref.method}, dx {rgrid.dx:g}): E = {ref.ground:.8f} Ha; {functional} error "
            f"{gs.energy - ref.ground:+.2e} Ha")
    psi = do_kick(gs.orbitals, grid.x, kick) if kick else gs.orbitals
    pert = (lambda t: pulse.potential(grid.x, t)) if pulse is not None else None  # noqa: E731
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
    with Progress(TextColumn(f"{propagator} dt={dt:g}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeRemainingColumn(), console=out_console, transient=True) as bar:
        task = bar.add_task("propagate", total=steps)
        tr = propagate(ks, psi, propagator, dt, steps, perturbation=pert, every=every,
                       progress=lambda k: bar.update(task, completed=k))
    say(f"propagated {len(tr.t) - 1} records to t = {tr.t[-1]:g} in {tr.seconds:.1f} s; max |N(t) - N(0)| = "
        f"{tr.drift('norm'):.2e}, max |E(t) - E(0+)| = {tr.drift('energy'):.2e} Ha"
        + (f"; DIVERGED at step {tr.diverged_step} (norm > 1e6 N)" if tr.diverged_step else ""))
    summary: dict[str, Any] = {
        "system": sysm.name, "electrons": sysm.electrons, "functional": functional, "propagator": propagator,
        "grid": {"box": box, "dx": dx, "order": order, "points": grid.size}, "dt": dt, "t_end": t_end,
        "kick": kick, "laser": laser, "ground_state": {"energy": gs.energy, "eigenvalues": gs.eigenvalues.tolist(),
                                                       "iterations": gs.iterations, "residual": gs.residual,
                                                       "converged": gs.converged, "tolerance": gs.tolerance},
        "exact": None if ref is None else {"energy": ref.ground, "excitations": ref.excitations.tolist(),
                                           "strengths": ref.strengths.tolist(), "method": ref.method},
        "propagation": {"records": len(tr.t) - 1, "seconds": tr.seconds, "norm_drift": tr.drift("norm"),
                        "energy_drift": tr.drift("energy"), "diverged_step": tr.diverged_step}}
    spec = None
    if kick and pulse is None and tr.diverged_step is None and len(tr.t) >= 3:
        spec = strength_function(tr.t, tr.dipole, kick)
        found = peaks(spec, omega_max=2.0)
        summary["spectrum"] = {"trk": spec.trk(), "peaks": found}
        say(f"TRK sum rule: int S(omega) d omega = {spec.trk():.5f} (N = {sysm.electrons})")
        say("  peaks found (omega, f): " + (", ".join(f"{p['omega']:.4f} ({p['strength']:.3f})" for p in found[:7])
                                            or "none"))
        if ref is not None:
            bright = [(w, f) for w, f in zip(ref.excitations, ref.strengths) if f >= 0.01 and w <= 2.0]
            say("  exact lines (omega, f): " + ", ".join(f"{w:.4f} ({f:.3f})" for w, f in bright[:7]))
            # each exact line's nearest peak: a convenience for scripts, not an assignment of peaks to states
            summary["spectrum"]["nearest_peak_to_exact"] = match_peaks(found, ref.excitations, ref.strengths)
    _write(out, tr, spec, summary)
    say(f"wrote {', '.join(str(out / name) for name in FILES)}")


def _write(out: Path, tr: Any, spec: Any, summary: dict[str, Any]) -> None:
    """Every file atomically, after the propagation: an interrupted run leaves nothing half-written."""
    arrays = {"t": tr.t, "norm": tr.norm, "energy": tr.energy, "dipole": tr.dipole}
    if spec is not None:
        arrays |= {"omega": spec.omega, "strength": spec.strength}
    with atomic_path(out / "observables.npz") as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)
    with atomic_path(out / "tddft.png") as tmp, open(tmp, "wb") as f:
        f.write(_plot(tr, spec, summary))
    write_json(out / "summary.json", _clean(summary))


def _clean(obj: Any) -> Any:
    """JSON-able: numpy numbers -> Python numbers, NaN/inf -> None (JSON has neither)."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer)):
        obj = obj.item()
    return None if isinstance(obj, float) and not math.isfinite(obj) else obj


def _plot(tr: Any, spec: Any, summary: dict[str, Any]) -> bytes:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    n = 4 if spec is not None else 3
    fig, axes = plt.subplots(1, n, figsize=(4 * n, 3.4), layout="constrained")
    axes[0].semilogy(tr.t, np.maximum(np.abs(tr.norm / tr.norm[0] - 1), 1e-16))
    axes[0].set(xlabel="t (a.u.)", ylabel="|N(t)/N(0) - 1|", title="norm")
    axes[1].plot(tr.t, tr.energy - tr.energy[0])
    axes[1].set(xlabel="t (a.u.)", ylabel="E(t) - E(0+) (Ha)", title="energy")
    axes[2].plot(tr.t, tr.dipole)
    axes[2].set(xlabel="t (a.u.)", ylabel="<x> (bohr)", title="dipole")
    if spec is not None:
        keep = spec.omega <= 2.0
        axes[3].plot(spec.omega[keep], spec.strength[keep], label=summary["functional"])
        if summary["exact"]:
            for w, f in zip(summary["exact"]["excitations"], summary["exact"]["strengths"]):
                if w <= 2.0 and f > 0.01:
                    axes[3].axvline(w, color="0.4", ls="--", lw=0.8)
        axes[3].set(xlabel="omega (Ha)", ylabel="S(omega) (1/Ha)", title="strength function (dashed: exact)")
    fig.suptitle(f"{summary['system']}, {summary['functional']}, {summary['propagator']} dt={summary['dt']:g}")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()
