"""euler-stability: explicit Euler x + h F(x) is only conditionally stable (|1 + h lambda| <= 1); instability shows
as exploding signals or vanishing/exploding gradients; an implicit block stays stable (Haber & Ruthotto 2017).

Verification (float64, known answers): every rule of models/integrators.py is run on y' = lambda y over a grid of
z = h lambda and its measured stability compared with |R(z)| <= 1 (probes/stability.py), plus the real-axis
boundaries, the step h* at which each rule turns unstable for fixed lambdas, and the per-block gradient factor
||dL/dx_l|| / ||dL/dx_{l+1}|| = |1 + z| of explicit Euler on linear branches F(x) = lambda x.
Empirical: (a) z = mu - 1 for the block-Jacobian eigenvalues mu of the ladder's trained pre-activation nets (the
same runs jacobian-near-identity reads) against Euler's region; (b) a stiff norm-free residual MLP with linear
branches W = diag(-kappa on half the coordinates, 0 on the rest) + small noise, trained with explicit Euler, RK4 and
implicit Euler (Newton-Krylov) blocks. Half the modes stiff, half slow is what makes a problem stiff: the slow half
carries the signal, the stiff half must merely decay, and only an A-stable step lets it. Linear branches make the
eigenvalues known exactly; with ReLU the stiff modes would be clipped rather than amplified."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .. import config as C
from . import _euler_stability_measure as M
from ._overrides import resolve_scale
from .base import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Claim, Context, Verdict
from .ladder import scale_config as ladder_scale, spec
from .runs import Runs
from .stats import fmt, summary

RULES = ("euler", "heun", "midpoint", "rk4", "leapfrog", "implicit-euler")
EXPECTED = {"euler": -2.0, "heun": -2.0, "midpoint": -2.0, "rk4": -2.7853, "leapfrog": -2.0, "implicit-euler": None}
BOUNDARY_TOL = 1e-6  # grid points with | |R(z)| - 1 | < 1e-6 lie on the boundary: not compared
LEAPFROG_TOL = 0.05  # leapfrog: | |h w| - 2 | < 0.05 not compared (its norm is read over 1024 steps with slack)
REAL_TOL = 1e-3  # real-axis boundary within 1e-3 of the literature value
H_TOL = 1e-3  # h* measured within 1e-3 * max(1, h*) of theory
FACTOR_TOL = 1e-9  # float64: per-block gradient factor of Euler on F = lambda x equals |1 + z| to 1e-9 (relative)
TRAINED = 0.5  # the implicit net "trains": whole-set loss below 0.5 ln 10 = 1.15 nats
CHANCE = math.log(10)  # explicit Euler "fails": diverged (NaN/inf) or loss above chance ln 10
CALIBRATION = 1024
STIFF_RULES = ("euler", "rk4", "implicit-euler")
GRAD_Z = (-0.5, -1.5, -2.5, -5.0)  # inside (over-damped), inside, outside, outside Euler's region

CLAIM = Claim(
    id="euler-stability",
    kind="verification + empirical",
    statement="Explicit Euler is only conditionally stable (|1 + h lambda| <= 1); instability shows up as exploding "
              "signals or vanishing/exploding gradients; an implicit block stays stable.",
    source="seed text; Haber & Ruthotto 2017",
    rule=(f"Verification (float64): every rule's measured stability on the z = h lambda grid equals |R(z)| <= 1 at "
          f"every point with | |R(z)| - 1 | >= {BOUNDARY_TOL:g} (leapfrog: imaginary axis, | |h w| - 2 | >= "
          f"{LEAPFROG_TOL:g}); real-axis boundaries within {REAL_TOL:g} of -2 (euler, heun, midpoint, leapfrog's "
          f"|h w|), -2.7853 (rk4), none (implicit-euler); h* for each fixed lambda within {H_TOL:g} * max(1, h*) of "
          f"theory; Euler's per-block gradient factor on F = lambda x equals |1 + z| to {FACTOR_TOL:g} relative. Any "
          f"miss: not supported (a bug). Empirical, stiff norm-free MLP (linear branches, z = -h kappa on half the "
          f"modes outside Euler's region), same data/steps/lr per rule: explicit Euler fails on a seed if it diverges "
          f"(NaN/inf) or ends above ln 10; implicit Euler trains on a seed if its whole-set loss < {TRAINED:g} ln 10. "
          f"Supported if the verification holds, explicit Euler fails on every seed and implicit Euler trains on "
          f"every seed. Not supported if the verification fails, or implicit Euler fails to train on every seed, or "
          f"explicit Euler trains (not diverged, loss < {TRAINED:g} ln 10) on every seed. Otherwise inconclusive. "
          f"RK4 in the stiff run, the gradient norms by block and the fraction of trained blocks' h * spectra inside "
          f"Euler's region are reported beside the verdict, not part of it (no principled threshold in advance)."),
)


@dataclass(frozen=True)
class EulerScale:
    grid_step: float = C.option(0.25, "spacing of the z grid (Re in [-4, 1], Im in [-3.5, 3.5])")
    grid_steps: int = C.option(8, "steps per growth reading (the norm grows by exactly |R| per step; leapfrog 1024)")
    sweep_scan: int = C.option(50, "h values scanned per (rule, lambda) before bisecting for h*")
    depth: int = C.option(6, "blocks of the stiff MLP")
    width: int = C.option(16, "width of the stiff MLP (half the modes stiff)")
    h: float = C.option(1.0, "residual step h of the stiff MLP")
    kappa: float = C.option(5.0, "stiff modes: branch eigenvalue -kappa, so z = -h kappa (Euler's region: z >= -2)")
    noise: float = C.option(0.1, "std * sqrt(width) of the noise added to the branch weights")
    data: str = C.option("digits", "dataset of the stiff training run (flattened)")
    steps: int = C.option(100, "SGD steps of every stiff training run")
    batch: int = C.option(64, "batch size (sampled with replacement, seeded)")
    lr: float = C.option(0.05, "SGD learning rate, momentum 0.9, constant; the same for every rule")
    grad_depth: int = C.option(10, "blocks of the linear-branch nets whose gradient norms are read")
    spectra_seeds: int = C.option(1, "seeds of the ladder's trained pre-activation nets whose h * spectra are read "
                                     "(part a; 0 = none, more than --seeds = all)")


# Quick: depth 4 and 60 steps. The first timing run (depth 6, 100 steps, one seed) took 33 s for the implicit net
# alone on the loaded 2-core CPU (SciPy solves: 12 per step), over the 3-minute budget with three seeds; the
# thresholds and the rule were written before that run and not changed. Explicit Euler still meets |1 + z|^4 = 256.
QUICK = EulerScale(depth=4, steps=60)
FULL = EulerScale(grid_step=0.1, grid_steps=64, sweep_scan=200, depth=12, width=32, steps=1000, grad_depth=30,
                  spectra_seeds=1000)


def scale_config(ctx: Context) -> EulerScale:
    return resolve_scale(ctx, QUICK, FULL, data_key="data", steps_key="steps")


def runs(ctx: Context):
    """The trained pre-activation nets of the ladder: exactly jacobian-near-identity's RunSpecs, so they train once."""
    return [spec(ctx, "preresnet", ladder_scale(ctx).jacobian_depth, seed) for seed in _spectra_seeds(ctx)]


def _spectra_seeds(ctx: Context) -> list[int]:
    return ctx.seed_list[:scale_config(ctx).spectra_seeds]


def budget(ctx: Context) -> str:
    s = scale_config(ctx)
    n = len(_spectra_seeds(ctx))
    spectra = f"; h * spectra of the ladder's preresnet{ladder_scale(ctx).jacobian_depth}, {n} seed(s)" if n else ""
    return (f"z grid step {s.grid_step} ({s.grid_steps} steps per reading), float64; stiff MLP depth {s.depth} width "
            f"{s.width}, h {s.h}, kappa {s.kappa}, {s.steps} SGD steps of batch {s.batch} on {s.data} (lr {s.lr}), "
            f"{len(STIFF_RULES)} rules, {ctx.seeds} seed{'s' * (ctx.seeds != 1)}{spectra}")


def _stiff_net(s: EulerScale, rule: str, seed: int, data_kwargs: dict, depth: int | None = None,
               diag: torch.Tensor | None = None, noise: float | None = None) -> Any:
    from ..models import create_model
    torch.manual_seed(seed)
    net = create_model("resmlp", depth=depth or s.depth, width=s.width, h=s.h, norm="none", activation="identity",
                       branch_layers=1, integrator=rule, solver="newton-krylov", **data_kwargs).double()
    if diag is None:  # stiff: the first half of the modes at -kappa, the rest at 0
        diag = torch.cat([torch.full((s.width // 2,), -s.kappa), torch.zeros(s.width - s.width // 2)])
    M.linear_branches(net, diag, s.noise if noise is None else noise, torch.Generator().manual_seed(seed))
    return net


def measure(ctx: Context, done: Runs) -> dict[str, Any]:
    from threadpoolctl import threadpool_limits  # scikit-learn's dependency
    threads = torch.get_num_threads()
    # Tiny nets and 2-vectors: a second thread costs more than it saves. SciPy's GMRES (the implicit solves) runs
    # on OpenBLAS, whose threads made the stiff runs 3x slower on the loaded 2-core machine: one thread there too.
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            return _measure(ctx, done)
    finally:
        torch.set_num_threads(threads)


def _measure(ctx: Context, done: Runs) -> dict[str, Any]:
    from ..data import load_dataset, to_float
    s, t0 = scale_config(ctx), time.perf_counter()
    re = np.round(np.arange(-4.0, 1.0 + 1e-9, s.grid_step), 6)
    im = np.round(np.arange(-3.5, 3.5 + 1e-9, s.grid_step), 6)
    out: dict[str, Any] = {"seeds": ctx.seed_list, "scale": C.to_dict(s), "grid": {}, "locus": {}, "sweep": {}}
    for r in RULES:
        out["grid"][r] = M.grid_comparison(r, re, im, s.grid_steps,
                                           LEAPFROG_TOL if M.INTEGRATORS[r].reversible else BOUNDARY_TOL)
        out["locus"][r] = dict(zip(("x", "y", "ordered"), M.boundary_locus(r)))
    out["real"] = M.real_boundaries(list(RULES))
    for lam in (complex(-1, 0), complex(-10, 0), complex(-1, 3), complex(0, 2)):
        for r in RULES:
            if M.INTEGRATORS[r].reversible and lam.real != 0:
                continue  # leapfrog's test field has imaginary eigenvalues only
            out["sweep"].setdefault(r, []).append(M.h_sweep(r, lam, 10 / abs(lam), s.grid_steps,
                                                                  s.sweep_scan))
    data = load_dataset(s.data, root=ctx.data_root)
    x, y, kw = to_float(data.train_x).double(), data.train_y, data.model_kwargs()
    xg, yg = x[:64], y[:64]
    out["grad_linear"] = {}  # exact linear branches F = (z / h) x: the factor is |R(z)|
    for rule, z in [("euler", z) for z in GRAD_Z] + [("implicit-euler", GRAD_Z[-1])]:
        net = _stiff_net(s, rule, 0, kw, s.grad_depth, torch.full((s.width,), z / s.h), 0.0)
        norms = M.block_gradients(net, xg, yg)
        out["grad_linear"][f"{rule} z={z:g}"] = {"rule": rule, "z": z, "norms": norms, "factors": M.factors(norms),
                                                 "theory": float(abs(M.INTEGRATORS[rule].amplification(z)))}
    out["verification_seconds"] = time.perf_counter() - t0
    out["stiff"] = {r: [] for r in STIFF_RULES}
    out["grad_stiff"] = {r: [] for r in STIFF_RULES}
    for r in STIFF_RULES:
        for seed in ctx.seed_list:
            out["grad_stiff"][r].append(M.block_gradients(_stiff_net(s, r, seed, kw), xg, yg))
            out["stiff"][r].append(M.train_stiff(_stiff_net(s, r, seed, kw), x, y, s.steps, s.batch, s.lr, seed))
    if _spectra_seeds(ctx):
        depth = ladder_scale(ctx).jacobian_depth
        out["spectra"] = {"depth": depth, "seeds": []}
        for seed in _spectra_seeds(ctx):
            sp = spec(ctx, "preresnet", depth, seed)
            e = M.trained_spectra(done.model(sp, trained=True), done.dataset(sp), CALIBRATION)
            if seed != ctx.seed_list[0]:
                e["real"], e["imag"] = [], []  # raw spectra of the first seed only (figure)
            out["spectra"]["seeds"].append(e)
    out["seconds"] = time.perf_counter() - t0
    return out


def _checks(ev: dict[str, Any]) -> list[str]:
    """The verification's misses, in words ([] = every known answer reproduced)."""
    miss = [f"{r}: {g['disagree']}/{g['compared']} grid points" for r, g in ev["grid"].items() if g["disagree"]]
    for r, b in ev["real"].items():
        want, got = EXPECTED[r], b["measured"]
        if (want is None) != (got is None) or (want is not None and abs(got - want) > REAL_TOL):
            miss.append(f"{r}: real boundary {got} (want {want})")
    for r, rows in ev["sweep"].items():
        for w in rows:
            a, b = w["measured"], w["theory"]
            if (a is None) != (b is None) or (a is not None and abs(a - b) > H_TOL * max(1.0, b)):
                miss.append(f"{r}: h* {a} vs theory {b} at lambda {complex(*w['lambda'])}")
    for k, g in ev["grad_linear"].items():
        if g["rule"] == "euler" and any(abs(f - g["theory"]) > FACTOR_TOL * g["theory"] for f in g["factors"]):
            miss.append(f"gradient factor {k}: {min(g['factors']):.12g}..{max(g['factors']):.12g} vs {g['theory']:g}")
    return miss


def _loss(run: dict[str, Any]) -> float:
    return math.inf if run["diverged_step"] is not None or run["loss"] is None else run["loss"]


def verdict(evidence: dict[str, Any]) -> Verdict:
    miss = _checks(evidence)
    if miss:
        return Verdict(NOT_SUPPORTED, "the verification failed (a bug in a rule or its probe): " + "; ".join(miss[:4]))
    eu, im = ([_loss(r) for r in evidence["stiff"][k]] for k in ("euler", "implicit-euler"))
    fails = [v > CHANCE for v in eu]  # inf (diverged) included
    trains = [v < TRAINED * CHANCE for v in im]
    eu_ok = [v < TRAINED * CHANCE for v in eu]
    div = [r["diverged_step"] for r in evidence["stiff"]["euler"]]
    said = (f"stiff net, final loss: explicit Euler {', '.join('diverged' if math.isinf(v) else f'{v:.3g}' for v in eu)}"
            f" (diverged at step {', '.join(str(d) for d in div)}); implicit Euler "
            f"{', '.join('diverged' if math.isinf(v) else f'{v:.3g}' for v in im)}")
    if all(fails) and all(trains):
        return Verdict(SUPPORTED, f"every stability boundary matches theory; {said}")
    if not any(trains) or all(eu_ok):
        return Verdict(NOT_SUPPORTED, f"the stiff comparison goes against the claim: {said}")
    return Verdict(INCONCLUSIVE, f"seeds disagree or between the thresholds: {said}")


from ._euler_stability_present import present  # noqa: E402  (figures and table live beside, to keep this short)
