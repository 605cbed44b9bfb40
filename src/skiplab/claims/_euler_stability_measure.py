"""The measurements behind euler-stability (claims/euler_stability.py): the stability of every integrator rule on a
grid of z = h lambda against its stability function, boundary loci, the step at which a rule turns unstable for a
fixed lambda, per-block gradient factors on linear branches, the stiff training comparison and h * spectra of
trained blocks. Pure functions of their arguments; the claim module holds the thresholds."""

from __future__ import annotations

import math
import time
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from ..models.integrators import INTEGRATORS
from ..probes.stability import LEAPFROG_SLACK, SLACK, growth, real_boundary

LEAPFROG_LIMIT = 2.0  # Stoermer-Verlet on the oscillator is stable iff |h w| <= 2 (Hairer, Lubich & Wanner I.5)


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


def boundary_locus(name: str, n: int = 720) -> tuple[list[float], list[float], bool]:
    """Points z with |R(z)| = 1 by the boundary-locus method: the roots of P(z) = e^{i theta}, P = R for an explicit
    Runge-Kutta rule (a polynomial of degree <= its evaluations of F), P = 1 / R for implicit Euler (1 - z). The
    polynomial is recovered from the rule's own R by interpolation at the nodes 0, -1, -2, ..., so a new rule needs no entry
    here. Returns (re, im, ordered): ordered when the points form one curve in theta order (degree 1)."""
    rule = INTEGRATORS[name]
    if rule.reversible:  # leapfrog: the segment [-2i, 2i]
        return [0.0, 0.0], [-LEAPFROG_LIMIT, LEAPFROG_LIMIT], True
    deg = 1 if rule.implicit else rule.evaluations
    nodes = -np.arange(deg + 1, dtype=float)  # z <= 0: clear of implicit Euler's pole at z = 1
    vals = rule.amplification(nodes.astype(np.complex128))
    coeffs = np.linalg.solve(np.vander(nodes, deg + 1), 1 / vals if rule.implicit else vals)  # highest power first
    zs = []
    for t in np.linspace(0, 2 * np.pi, n + 1):
        c = coeffs.astype(np.complex128).copy()
        c[-1] -= np.exp(1j * t)
        zs.append(np.roots(c))
    pts = np.concatenate(zs)
    return np.round(pts.real, 5).tolist(), np.round(pts.imag, 5).tolist(), deg == 1


def first_unstable(stable: Callable[[float], bool], h_max: float, n: int = 200, tol: float = 1e-7) -> float | None:
    """The smallest h in (0, h_max] at which `stable(h)` turns false (a scan of n steps, then bisection to tol);
    None if stable on the whole scan."""
    prev = 0.0
    for h in np.linspace(h_max / n, h_max, n):
        if not stable(float(h)):
            a, b = prev, float(h)
            while b - a > tol:
                m = (a + b) / 2
                a, b = (m, b) if stable(m) else (a, m)
            return (a + b) / 2
        prev = float(h)
    return None


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
    from ..models import calibrate_batchnorm
    from ..probes import block_eigenvalues
    from .runs import calibration_batch, probe_batch
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
