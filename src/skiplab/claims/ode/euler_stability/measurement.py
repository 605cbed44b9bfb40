"""The measurements behind euler-stability (rule.py): the stability of every integrator rule on a
grid of z = h lambda against its stability function, boundary loci, the step at which a rule turns unstable for a
fixed lambda, per-block gradient factors on linear branches, the stiff training comparison and h * spectra of
trained blocks. Pure functions of their arguments; the claim module holds the thresholds."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from skiplab import config as C
from skiplab.claims.core.contract import Context
from skiplab.claims.core.engine import Done, FunctionRun, Job
from skiplab.claims.core.pool import threads
from skiplab.claims.core.datasets import calibration_batch, dataset, probe_batch
from skiplab.claims.core.scale import resolve_scale
from skiplab.claims.depth.ladder import scale_config as ladder_scale, spec
from skiplab.models.parts.integrators import INTEGRATORS
from skiplab.probes.stability import LEAPFROG_LIMIT, LEAPFROG_SLACK, SLACK, boundary_locus, first_unstable, growth, real_boundary

from .rule import BOUNDARY_TOL, CALIBRATION, GRAD_Z, LEAPFROG_TOL, RULES, STIFF_RULES


def _slack(name: str) -> float:
    return LEAPFROG_SLACK if INTEGRATORS[name].reversible else SLACK


def measured_stable(name: str, z: complex, steps: int | None) -> bool:
    """probes.stability.stable with a choosable number of steps: every non-reversible rule maps the rotation-scaling
    matrix to one, so its norm grows by exactly |R(z)| each step and a few steps read it (64 is the probe's default,
    for safety); leapfrog keeps its own long horizon."""
    rule = INTEGRATORS[name]
    try:
        return growth(name, z, None if rule.reversible else steps) <= 1 + _slack(name)
    except ValueError:  # an implicit step at a pole of R (z = 1 for implicit Euler): I - z is singular, no step
        if not rule.implicit:
            raise
        return False


def theory_abs(name: str, z: complex) -> float:
    """|R(z)| from the rule's stability function; for leapfrog, on the imaginary axis, 1 inside |h w| <= 2 (its
    step matrix has eigenvalues of modulus 1 there) and the larger eigenvalue modulus outside."""
    rule = INTEGRATORS[name]
    if rule.amplification is not None:
        with np.errstate(divide="ignore", invalid="ignore"):  # a pole of R (z = 1 for implicit Euler): no step
            v = float(abs(rule.amplification(np.complex128(z))))
        return v if math.isfinite(v) else math.inf
    w = abs(z.imag)
    return 1.0 if w <= LEAPFROG_LIMIT else float(w * w / 2 - 1 + math.sqrt((w * w / 2 - 1) ** 2 - 1))


def grid_comparison(name: str, re: np.ndarray, im: np.ndarray, steps: int, boundary_tol: float) -> dict[str, Any]:
    """Measured vs theoretical stability on the grid (leapfrog: on the imaginary axis only). Points with
    | |R(z)| - 1 | < boundary_tol (leapfrog: | |h w| - 2 | < boundary_tol) are on the boundary and not compared."""
    pts = [complex(0.0, b) for b in im] if INTEGRATORS[name].reversible else [complex(a, b) for a in re for b in im]
    out: dict[str, Any] = {"x": [], "y": [], "measured": [], "theory": [], "excluded": []}
    for z in pts:
        r = theory_abs(name, z)
        near = (abs(abs(z.imag) - LEAPFROG_LIMIT) < boundary_tol if INTEGRATORS[name].reversible
                else abs(r - 1) < boundary_tol)
        out["x"].append(z.real), out["y"].append(z.imag)
        out["measured"].append(measured_stable(name, z, steps))
        out["theory"].append(r <= 1)
        out["excluded"].append(bool(near))
    out["disagree"] = sum(m != t and not e for m, t, e in zip(out["measured"], out["theory"], out["excluded"]))
    out["compared"] = sum(not e for e in out["excluded"])
    return out


def h_sweep(name: str, lam: complex, h_max: float, steps: int, scan: int) -> dict[str, Any]:
    """h* of rule `name` for y' = lam y: measured (the rule run) and theoretical (|R(h lam)| at the same threshold
    1 + slack the measurement uses, so that the comparison tests the rule, not the threshold). Leapfrog: lam on the
    imaginary axis only."""
    s = 1 + _slack(name)
    meas = first_unstable(lambda h: measured_stable(name, h * lam, steps), h_max, scan)
    theo = first_unstable(lambda h: theory_abs(name, h * lam) <= s, h_max, scan)
    exact = first_unstable(lambda h: theory_abs(name, h * lam) <= 1 + 1e-15, h_max, scan)
    return {"lambda": [lam.real, lam.imag], "measured": meas, "theory": theo, "exact": exact}


def real_boundaries(names: list[str]) -> dict[str, dict[str, float | None]]:
    """Left end of the stable real interval (leapfrog: of |h w| on the imaginary axis), measured by the probe's
    bisection on the rule and by the same bisection on |R|."""
    out = {}
    for name in names:
        axis = complex(0, -1) if INTEGRATORS[name].reversible else complex(1, 0)
        theo = first_unstable(lambda t: theory_abs(name, -t * axis) <= 1 + _slack(name), 10.0, n=1000, tol=1e-7)
        out[name] = {"measured": real_boundary(name), "theory": None if theo is None else -theo}
    return out


# --- nets: linear and stiff branches ------------------------------------------------------------------------------

def linear_branches(net: nn.Module, diag: torch.Tensor, noise: float, gen: torch.Generator) -> None:
    """Set every block's branch Linear to diag(diag) + noise * N(0, 1/width), bias 0. With identity activation and
    no norm, F(x) = W x: the block's dynamics have the known eigenvalues of W."""
    with torch.no_grad():
        for _, block in net.blocks():
            for m in block.branch.modules():
                if isinstance(m, nn.Linear):
                    w = m.weight.shape[0]
                    noise_m = torch.randn(w, w, generator=gen, dtype=torch.float64) * noise / math.sqrt(w)
                    m.weight.copy_((torch.diag(diag.double()) + noise_m).to(m.weight.dtype))
                    m.bias.zero_()


def block_gradients(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """||dL/dx_l|| for l = 0 (the stem's output) .. L (the last block's output), L = cross-entropy of the batch.
    Each x_l is read through a clone: an implicit block's output carries a hook that turns the incoming gradient
    into dL/dx_{l-1} (the adjoint solve), so the output tensor's own .grad would be one block early."""
    h = net.stem(net.normalize(x)).clone()
    xs = [h]
    for _, block in net.blocks():
        h = block(h).clone()
        xs.append(h)
    for t in xs:
        t.retain_grad()
    nn.functional.cross_entropy(net.head(h), y).backward()
    return [float(t.grad.norm()) for t in xs]


def factors(norms: list[float]) -> list[float]:
    """Per-block backward factors ||dL/dx_l|| / ||dL/dx_{l+1}||."""
    return [a / b if b > 0 else math.inf for a, b in zip(norms[:-1], norms[1:])]


def solve_stats(net: nn.Module) -> dict[str, int]:
    st = [b.solver.stats for _, b in net.blocks() if getattr(b, "solver", None) is not None]
    return {"solves": sum(s.solves for s in st), "unconverged": sum(s.unconverged for s in st)}


def train_stiff(net: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, batch: int, lr: float,
                seed: int) -> dict[str, Any]:
    """SGD (momentum 0.9) on (x, y), the batch loss at every step; a NaN/inf loss stops the run and records the
    step (a diverged run is data). The whole-set loss at the end (None if diverged or non-finite)."""
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
    g = torch.Generator().manual_seed(10_000 + seed)
    curve, t0, diverged = [], time.perf_counter(), None
    net.train()
    for step in range(steps):
        idx = torch.randint(0, len(y), (batch,), generator=g)
        loss = nn.functional.cross_entropy(net(x[idx]), y[idx])
        if not torch.isfinite(loss):
            diverged = step
            break
        curve.append(loss.item())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    final = None
    if diverged is None:
        with torch.no_grad():
            v = float(nn.functional.cross_entropy(net(x), y))
        final = v if math.isfinite(v) else None
    return {"curve": curve, "diverged_step": diverged, "loss": final, "seconds": time.perf_counter() - t0,
            **solve_stats(net)}


def trained_spectra(net: Any, data: Any, calibration: int) -> dict[str, Any]:
    """z = h lambda = mu - 1 for the eigenvalues mu of each shape-preserving block's Jacobian I + h dF/dx (eval-mode
    batch norm, calibrated), at one fixed training example; per block the fraction inside Euler's region
    |1 + z| <= 1 (i.e. |mu| <= 1) and the largest |1 + z|."""
    from skiplab.models import calibrate_batchnorm
    from skiplab.probes import block_eigenvalues
    mode = calibrate_batchnorm(net, calibration_batch(data, calibration)[0])
    eig = block_eigenvalues(net, probe_batch(data, 1)[0], bn_mode=mode)
    per = {k: np.asarray(v) for k, v in eig.eigenvalues.items()}
    zs = np.concatenate(list(per.values())) - 1 if per else np.zeros(0, complex)
    return {"mode": mode, "methods": sorted(set(eig.methods.values())), "blocks": list(per),
            "inside": [float(np.mean(np.abs(v) <= 1 + 1e-9)) for v in per.values()],
            "max_amp": [float(np.max(np.abs(v))) for v in per.values()],
            "inside_all": float(np.mean(np.abs(1 + zs) <= 1 + 1e-9)) if zs.size else float("nan"),
            # z = 0 (mu = 1) sits on the boundary: ReLU masks make dF/dx rank-deficient, so many eigenvalues are 0
            "at_zero": float(np.mean(np.abs(zs) < 1e-6)) if zs.size else float("nan"),
            "real": np.round(zs.real, 4).tolist(), "imag": np.round(zs.imag, 4).tolist()}


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


@dataclass(frozen=True)
class StiffRun:
    """One stiff training run (train_stiff): the stiff MLP with `rule` blocks, `steps` SGD steps on `data`."""

    rule: str
    seed: int
    depth: int
    width: int
    h: float
    kappa: float
    noise: float
    data: str
    data_root: str | None
    steps: int
    batch: int
    lr: float


def stiff_jobs(ctx: Context) -> dict[tuple[str, int], FunctionRun]:
    s = scale_config(ctx)
    return {(r, seed): FunctionRun(train_stiff_run, StiffRun(r, seed, s.depth, s.width, s.h, s.kappa, s.noise, s.data,
                                                             ctx.data_root, s.steps, s.batch, s.lr),
                                   name=f"euler-stiff-{r}", seed=seed, cost=10.0 if r == "implicit-euler" else 1.0)
            for r in STIFF_RULES for seed in ctx.seed_list}


def runs(ctx: Context) -> list[Job]:
    """The stiff training runs, and the trained pre-activation nets of the ladder: exactly jacobian-near-identity's
    RunSpecs, so they train once."""
    ladder = [spec(ctx, "preresnet", ladder_scale(ctx).jacobian_depth, seed) for seed in _spectra_seeds(ctx)]
    return [*stiff_jobs(ctx).values(), *ladder]


def train_stiff_run(run: StiffRun) -> dict[str, Any]:
    """A stiff training run (a FunctionRun), float64, with SciPy's BLAS on one thread (its GMRES runs the implicit
    solves; its threads made the stiff runs 3x slower on the loaded 2-core machine)."""
    from threadpoolctl import threadpool_limits  # scikit-learn's dependency
    from skiplab.data import to_float
    data = dataset(run.data, run.data_root)
    x, y = to_float(data.train_x).double(), data.train_y
    with threadpool_limits(1):
        return train_stiff(_stiff_net(run, run.rule, run.seed, data.model_kwargs()), x, y, run.steps, run.batch,
                           run.lr, run.seed)


def _spectra_seeds(ctx: Context) -> list[int]:
    return ctx.seed_list[:scale_config(ctx).spectra_seeds]


def budget(ctx: Context) -> str:
    s = scale_config(ctx)
    n = len(_spectra_seeds(ctx))
    spectra = f"; h * spectra of the ladder's preresnet{ladder_scale(ctx).jacobian_depth}, {n} seed(s)" if n else ""
    return (f"z grid step {s.grid_step} ({s.grid_steps} steps per reading), float64; stiff MLP depth {s.depth} width "
            f"{s.width}, h {s.h}, kappa {s.kappa}, {s.steps} SGD steps of batch {s.batch} on {s.data} (lr {s.lr}), "
            f"{len(STIFF_RULES)} rules, {ctx.seeds} seed{'s' * (ctx.seeds != 1)}{spectra}")


def _stiff_net(s: EulerScale | StiffRun, rule: str, seed: int, data_kwargs: dict, depth: int | None = None,
               diag: torch.Tensor | None = None, noise: float | None = None) -> Any:
    from skiplab.models import create_model
    torch.manual_seed(seed)
    net = create_model("resmlp", depth=depth or s.depth, width=s.width, h=s.h, norm="none", activation="identity",
                       branch_layers=1, integrator=rule, solver="newton-krylov", **data_kwargs).double()
    if diag is None:  # stiff: the first half of the modes at -kappa, the rest at 0
        diag = torch.cat([torch.full((s.width // 2,), -s.kappa), torch.zeros(s.width - s.width // 2)])
    linear_branches(net, diag, s.noise if noise is None else noise, torch.Generator().manual_seed(seed))
    return net


def measure(ctx: Context, done: Done) -> dict[str, Any]:
    from threadpoolctl import threadpool_limits  # scikit-learn's dependency
    # Tiny nets and 2-vectors: a second thread costs more than it saves. SciPy's GMRES (the implicit solves) runs
    # on OpenBLAS, whose threads made the stiff runs 3x slower on the loaded 2-core machine: one thread there too.
    with threads(1), threadpool_limits(1):
        return _measure(ctx, done)


def _measure(ctx: Context, done: Done) -> dict[str, Any]:
    from skiplab.data import to_float
    s, t0 = scale_config(ctx), time.perf_counter()
    re = np.round(np.arange(-4.0, 1.0 + 1e-9, s.grid_step), 6)
    im = np.round(np.arange(-3.5, 3.5 + 1e-9, s.grid_step), 6)
    out: dict[str, Any] = {"seeds": ctx.seed_list, "scale": C.to_dict(s), "grid": {}, "locus": {}, "sweep": {}}
    for r in RULES:
        out["grid"][r] = grid_comparison(r, re, im, s.grid_steps,
                                           LEAPFROG_TOL if INTEGRATORS[r].reversible else BOUNDARY_TOL)
        out["locus"][r] = dict(zip(("x", "y", "ordered"), boundary_locus(r)))
    out["real"] = real_boundaries(list(RULES))
    for lam in (complex(-1, 0), complex(-10, 0), complex(-1, 3), complex(0, 2)):
        for r in RULES:
            if INTEGRATORS[r].reversible and lam.real != 0:
                continue  # leapfrog's test field has imaginary eigenvalues only
            out["sweep"].setdefault(r, []).append(h_sweep(r, lam, 10 / abs(lam), s.grid_steps,
                                                                  s.sweep_scan))
    data = dataset(s.data, ctx.data_root)
    x, y, kw = to_float(data.train_x).double(), data.train_y, data.model_kwargs()
    xg, yg = x[:64], y[:64]
    out["grad_linear"] = {}  # exact linear branches F = (z / h) x: the factor is |R(z)|
    for rule, z in [("euler", z) for z in GRAD_Z] + [("implicit-euler", GRAD_Z[-1])]:
        net = _stiff_net(s, rule, 0, kw, s.grad_depth, torch.full((s.width,), z / s.h), 0.0)
        norms = block_gradients(net, xg, yg)
        out["grad_linear"][f"{rule} z={z:g}"] = {"rule": rule, "z": z, "norms": norms, "factors": factors(norms),
                                                 "theory": float(abs(INTEGRATORS[rule].amplification(z)))}
    out["verification_seconds"] = time.perf_counter() - t0
    out["stiff"] = {r: [] for r in STIFF_RULES}
    out["grad_stiff"] = {r: [] for r in STIFF_RULES}
    stiff = stiff_jobs(ctx)
    for r in STIFF_RULES:
        for seed in ctx.seed_list:
            out["grad_stiff"][r].append(block_gradients(_stiff_net(s, r, seed, kw), xg, yg))
            out["stiff"][r].append(done.value(stiff[(r, seed)]))
    if _spectra_seeds(ctx):
        depth = ladder_scale(ctx).jacobian_depth
        out["spectra"] = {"depth": depth, "seeds": []}
        for seed in _spectra_seeds(ctx):
            sp = spec(ctx, "preresnet", depth, seed)
            e = trained_spectra(done.model(sp, trained=True), done.dataset(sp), CALIBRATION)
            if seed != ctx.seed_list[0]:
                e["real"], e["imag"] = [], []  # raw spectra of the first seed only (figure)
            out["spectra"]["seeds"].append(e)
    out["seconds"] = time.perf_counter() - t0
    return out
