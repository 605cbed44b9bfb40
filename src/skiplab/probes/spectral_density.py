"""Spectral densities by stochastic Lanczos quadrature (SLQ; Ubaru, Chen & Saad 2017, Ghorbani et al. 2019) of
every shape-preserving block's J - I over a batch of examples: its singular values, and its eigenvalues counted
through Jensen's formula.

SLQ never forms a matrix. For a symmetric M (D x D) and a random unit vector v (Rademacher entries / sqrt(D), so
E[v v^T] = I / D), m Lanczos steps from v give a tridiagonal T_m whose eigenpairs (theta_j, y_j) are an m-node Gauss
quadrature of the measure sum_i (v . q_i)^2 delta(lambda_i); its expectation is the spectral density (1/D) sum_i
delta(lambda_i) of M. Averaging the quadratures of several probe vectors estimates that density: integrals of smooth
functions of it to high accuracy, quantiles and tail means to about the spacing of its nodes.

Singular values. The Jacobian of a block is not symmetric; the singular values sigma of A = J - I are the square
roots of the eigenvalues of A^T A, whose products are one `torch.func.jvp` and one `vjp`. They bound the eigenvalues
mu of J: by Weyl's majorant theorem the k largest |mu_i - 1| sum to at most the k largest sigma_i, so the mean of
the largest 10% of the sigmas is at least the 90th percentile of |mu - 1|; but loosely where J is far from normal
(on trained pre-activation blocks ~3x).

Eigenvalues. Jensen's formula: the mean over the circle |z| = r of log|det(A - zI)| is sum_i log max(|lambda_i|, r)
over the eigenvalues lambda of A. So Phi(r) = (1/D) sum_i log max(|lambda_i|, r) is an average of log-determinants,
each (1/2) tr log of the Hermitian positive (A - zI)^* (A - zI), which SLQ estimates from jvp/vjp products; and
d Phi / d log r is the fraction of eigenvalues with |lambda| < r, so (Phi(r2) - Phi(r1)) / log(r2 / r1) is that
fraction averaged over log r between r1 and r2. Gauss quadrature overestimates tr log (log's even derivatives are
negative, so its error has one sign), by an amount that fell about as 1/m with m Lanczos steps in checks against
exact eigenvalues; the estimate is extrapolated from m/2 and m steps (Richardson). What it cannot resolve is a
(A - zI) whose smallest singular values are far smaller than the distance from z to the spectrum (a J far from
normal in the way of a random triangular matrix): there it errs low. On the quick nets' trained blocks it matched
exact eigenvalues to about 0.01 in every block's fraction; at initialization, on the first block (whose input is
the stem's), it read 0.55 for an exact 0.61.

Every block is probed on the whole batch at once: in eval mode an example's output depends on that example alone,
so one batched jvp/vjp gives every (example, probe) sequence its own product and the Lanczos runs in lockstep.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.linalg import eigh_tridiagonal
from torch.func import jvp, vjp

from ..guards import check_net, eval_mode_note, frozen, prepare
from ..models import Net


@dataclass(frozen=True)
class Density:
    """A discrete spectral density: `nodes` with nonnegative `weights` summing to 1 (numpy float64)."""

    nodes: np.ndarray
    weights: np.ndarray

    def integral(self, f: Callable[[np.ndarray], np.ndarray]) -> float:
        """The estimate of (1/D) tr f(M)."""
        return float(np.sum(self.weights * f(self.nodes)))

    def quantile(self, q: float) -> float:
        """The smallest node below which (inclusive) lies at least a fraction q of the mass."""
        order = np.argsort(self.nodes, kind="stable")
        cum = np.cumsum(self.weights[order])
        return float(self.nodes[order][min(np.searchsorted(cum, q - 1e-12), len(cum) - 1)])

    def mass_at_most(self, r: float) -> float:
        return float(self.weights[self.nodes <= r].sum())

    def upper_tail_mean(self, fraction: float) -> float:
        """The mean of the largest `fraction` of the mass (the conditional value at risk at level 1 - fraction):
        the node straddling the cut contributes only the part of its weight that falls inside."""
        if not 0 < fraction <= 1:
            raise ValueError(f"upper_tail_mean: fraction must be in (0, 1], got {fraction}")
        order = np.argsort(-self.nodes, kind="stable")
        w, x = self.weights[order], self.nodes[order]
        before = np.concatenate([[0.0], np.cumsum(w)[:-1]])
        take = np.clip(fraction - before, 0.0, w)
        return float(np.sum(take * x) / fraction)


def mixture(parts: list[tuple[Density, float]]) -> Density:
    """The density of a union of spectra, each part weighted (e.g. by its dimension)."""
    total = sum(w for _, w in parts)
    if not parts or total <= 0:
        raise ValueError("mixture needs at least one part of positive weight")
    return Density(np.concatenate([d.nodes for d, _ in parts]),
                   np.concatenate([d.weights * (w / total) for d, w in parts]))


def lanczos(matvec: Callable[[torch.Tensor], torch.Tensor], v0: torch.Tensor,
            steps: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """`steps` Lanczos steps of the symmetric operator `matvec` ((B, D) -> (B, D), row b its own product) from each
    row of v0, in lockstep, with full reorthogonalization (twice: classical Gram-Schmidt once loses orthogonality in
    float32). Returns each row's tridiagonal (alpha, beta), cut where its Krylov space became invariant (beta ~ 0),
    so an operator of rank r < steps gives an exact r-node quadrature (a zero operator: the one node 0)."""
    if v0.dim() != 2 or steps < 1:
        raise ValueError(f"lanczos needs start vectors (B, D) and steps >= 1, got {tuple(v0.shape)}, {steps}")
    b, d = v0.shape
    steps = min(steps, d)
    tiny = torch.finfo(v0.dtype).tiny
    rel = 100 * torch.finfo(v0.dtype).eps
    basis = torch.zeros(b, steps, d, dtype=v0.dtype, device=v0.device)
    v = v0 / v0.norm(dim=1, keepdim=True).clamp_min(tiny)
    prev, beta = torch.zeros_like(v), torch.zeros(b, dtype=v0.dtype, device=v0.device)
    alphas, betas = [], []
    size = torch.full((b,), steps, dtype=torch.long)
    scale = torch.zeros(b, dtype=v0.dtype, device=v0.device)
    live = torch.ones(b, dtype=torch.bool, device=v0.device)
    for j in range(steps):
        basis[:, j] = v
        w = matvec(v)
        alpha = (w * v).sum(1)
        w = w - alpha[:, None] * v - beta[:, None] * prev
        for _ in range(2):
            w = w - torch.einsum("bk,bkd->bd", torch.einsum("bkd,bd->bk", basis[:, :j + 1], w), basis[:, :j + 1])
        beta_new = w.norm(dim=1)
        scale = torch.maximum(scale, alpha.abs() + beta_new)
        alphas.append(torch.where(live, alpha, torch.zeros_like(alpha)))
        ended = live & (beta_new <= rel * scale)
        size[ended.cpu()] = j + 1
        live = live & ~ended
        beta_new = torch.where(live, beta_new, torch.zeros_like(beta_new))
        betas.append(beta_new)
        prev, beta = v, beta_new
        v = torch.where(live[:, None], w / beta_new.clamp_min(tiny)[:, None], torch.zeros_like(w))
    a = torch.stack(alphas, 1).double().cpu().numpy()
    e = torch.stack(betas, 1).double().cpu().numpy()
    return [(a[i, :size[i]], e[i, :size[i] - 1]) for i in range(b)]


def quadrature(tridiagonals: list[tuple[np.ndarray, np.ndarray]]) -> Density:
    """The SLQ density: the average over probes of each tridiagonal's Gauss quadrature (Ritz values, weights the
    squared first components of their eigenvectors)."""
    nodes, weights = [], []
    for alpha, beta in tridiagonals:
        if len(alpha) == 1:
            theta, y = alpha.copy(), np.ones((1, 1))
        else:
            theta, y = eigh_tridiagonal(alpha, beta)
        nodes.append(theta)
        weights.append(y[0] ** 2 / len(tridiagonals))
    return Density(np.concatenate(nodes), np.concatenate(weights))


def log_quadrature(tridiagonals: list[tuple[np.ndarray, np.ndarray]], steps: int) -> np.ndarray:
    """Per tridiagonal, the Gauss quadrature of log from its first `steps` Lanczos steps (the leading block of T_m is
    T_steps): the estimate of (1/D) tr log M for that probe."""
    out = np.empty(len(tridiagonals))
    for i, (alpha, beta) in enumerate(tridiagonals):
        alpha, beta = alpha[:steps], beta[:steps - 1]
        theta, y = (alpha, np.ones((1, 1))) if len(alpha) == 1 else eigh_tridiagonal(alpha, beta)
        out[i] = np.sum(y[0] ** 2 * np.log(np.maximum(theta, np.finfo(np.float64).tiny)))
    return out


def rademacher(shape: tuple[int, ...], seed: int, like: torch.Tensor) -> torch.Tensor:
    """Seeded +-1 entries (generated on the CPU, so every device draws the same probes)."""
    g = torch.Generator().manual_seed(seed)
    return (torch.randint(0, 2, shape, generator=g) * 2 - 1).to(device=like.device, dtype=like.dtype)


def singular_value_density(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, probes: int, steps: int,
                           seed: int = 0) -> Density:
    """SLQ density of the singular values of A = d fn / dx - I, pooled over the N examples of x (N, *S) with
    `probes` probe vectors each. `fn` maps a batch to a batch of the same shape, each example on its own (eval
    mode): the products A v and A^T u of all N * probes sequences are one batched jvp and one vjp."""
    n = x.shape[0]
    xs = x.detach().repeat(probes, *([1] * (x.dim() - 1)))
    with torch.no_grad():
        if fn(xs[:1]).shape != xs[:1].shape:
            raise ValueError("singular_value_density needs a shape-preserving map")
    _, pull = vjp(fn, xs)

    def normal(v: torch.Tensor) -> torch.Tensor:
        t = v.reshape(xs.shape)
        u = jvp(fn, (xs,), (t,))[1] - t
        return (pull(u)[0] - u).reshape(v.shape)

    v0 = rademacher((n * probes, xs[0].numel()), seed, xs)
    with torch.no_grad():
        dens = quadrature(lanczos(normal, v0, steps))
    return Density(np.sqrt(np.clip(dens.nodes, 0.0, None)), dens.weights)


def jensen_profile(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, radii: tuple[float, ...], steps: int,
                   seed: int = 0) -> np.ndarray:
    """Phi(r) = (1/D) sum_i log max(|lambda_i|, r) over the eigenvalues lambda of A = d fn / dx - I at each example
    of x (N, *S), for each radius: an (N, len(radii)) array.

    Each (example, radius) is one Lanczos sequence on the real form of (A - zI)^* (A - zI), z = r e^{i theta}, from
    one Rademacher vector in R^{2D} shared by the example's radii (their differences then share its noise). The
    mean over the circle is a mean over examples: example k of N takes theta = pi (k + 1/2) / N (the upper half
    suffices: A is real, so det(A - conj(z) I) is the conjugate of det(A - zI)). Extrapolated from steps // 2 and
    `steps` Lanczos steps as 2 Phi_m - Phi_{m/2}. `fn` maps each example on its own (eval mode)."""
    n, k = x.shape[0], len(radii)
    d = x[0].numel()
    if steps < 2:
        raise ValueError(f"jensen_profile needs steps >= 2 (it extrapolates from steps // 2), got {steps}")
    rows = n * k
    example = torch.arange(n).repeat_interleave(k)
    theta = torch.pi * (example.double() + 0.5) / n
    r = torch.tensor(radii, dtype=torch.float64).repeat(n)
    a = (r * torch.cos(theta)).to(x)[:, None]
    b = (r * torch.sin(theta)).to(x)[:, None]
    xs = x.detach()[example].repeat(2, *([1] * (x.dim() - 1)))  # real parts' rows, then imaginary parts'
    with torch.no_grad():
        if fn(xs[:1]).shape != xs[:1].shape:
            raise ValueError("jensen_profile needs a shape-preserving map")
    _, pull = vjp(fn, xs)

    def a_minus_i(v: torch.Tensor, transpose: bool) -> tuple[torch.Tensor, torch.Tensor]:
        t = v.reshape(xs.shape)
        out = (pull(t)[0] if transpose else jvp(fn, (xs,), (t,))[1]) - t
        return out.reshape(2, rows, d).unbind(0)

    def normal(v: torch.Tensor) -> torch.Tensor:  # (A - zI)^* (A - zI) on (re, im) halves of each row
        re, im = v[:, :d], v[:, d:]
        ar, ai = a_minus_i(torch.cat([re, im]), transpose=False)
        p, q = ar - a * re + b * im, ai - a * im - b * re
        tp, tq = a_minus_i(torch.cat([p, q]), transpose=True)
        return torch.cat([tp - a * p - b * q, tq - a * q + b * p], 1)

    probe = rademacher((n, 2 * d), seed, xs)
    with torch.no_grad():
        tri = lanczos(normal, probe[example], steps)
    phi = 2 * log_quadrature(tri, steps) - log_quadrature(tri, steps // 2)
    return (phi / 2).reshape(n, k)  # log|det(A - zI)| = (1/2) log det((A - zI)^* (A - zI))


@dataclass(frozen=True, eq=False)
class EigenProfile:
    """Phi(r) (see jensen_profile) at `radii` of every shape-preserving block's J - I, averaged over a batch of
    examples; `pooled` is the dimension-weighted mean over blocks (the union of their eigenvalues)."""

    radii: tuple[float, ...]
    blocks: dict[str, np.ndarray]
    pooled: np.ndarray
    dims: dict[str, int]
    skipped: dict[str, str]
    mode: str
    examples: int
    steps: int

    def fraction(self, r1: float, r2: float, block: str | None = None) -> float:
        """The fraction of eigenvalues mu with |mu - 1| < r, averaged over log r in [r1, r2] (two of the radii)."""
        phi = self.pooled if block is None else self.blocks[block]
        i, j = self.radii.index(r1), self.radii.index(r2)
        return float((phi[j] - phi[i]) / np.log(r2 / r1))


def _shape_preserving(net: Net, x: torch.Tensor) -> tuple[list[tuple[str, Any, torch.Tensor]], dict[str, str]]:
    """(name, block, block input) of every shape-preserving block when the net sees x, and the skipped ones."""
    with torch.no_grad():
        inter = net.block_outputs(x)
    names = list(inter)
    kept, skipped = [], {}
    for prev, (name, block) in zip(names, net.blocks()):
        x_in, x_out = inter[prev].detach(), inter[name]
        if x_in.shape != x_out.shape:
            skipped[name] = f"changes the shape {tuple(x_in.shape[1:])} -> {tuple(x_out.shape[1:])}"
        else:
            kept.append((name, block, x_in))
    if not kept:
        raise ValueError("the net has no shape-preserving block")
    return kept, skipped


def _batch(net: Any, x: Any, probe: str, bn_mode: str | None) -> tuple[Net, torch.Tensor, str]:
    net = check_net(net, probe)
    if not isinstance(x, torch.Tensor) or x.dim() < 2 or x.shape[0] < 1:
        raise ValueError(f"{probe} needs a batch (N, *example_shape) with N >= 1")
    mode = eval_mode_note(net, probe, bn_mode)
    return net, prepare(net, x), mode


def block_eigen_profile(net: Net, x: torch.Tensor, radii: tuple[float, ...], steps: int = 40, seed: int = 0,
                        bn_mode: str | None = None) -> EigenProfile:
    """Jensen profiles of every shape-preserving block's J - I at its own inputs when the net sees the batch x
    (N, *example_shape). A batch-norm net must be in eval mode (calibrate_batchnorm)."""
    net, x, mode = _batch(net, x, "block_eigen_profile", bn_mode)
    if not radii or min(radii) <= 0:
        raise ValueError(f"block_eigen_profile needs positive radii, got {radii}")
    with frozen(net):
        kept, skipped = _shape_preserving(net, x)
        blocks = {name: jensen_profile(block, x_in, tuple(radii), steps, seed=seed + i).mean(0)
                  for i, (name, block, x_in) in enumerate(kept)}
    dims = {name: x_in[0].numel() for name, _, x_in in kept}
    pooled = sum(dims[k] * v for k, v in blocks.items()) / sum(dims.values())
    return EigenProfile(tuple(radii), blocks, pooled, dims, skipped, mode, x.shape[0], steps)


@dataclass(frozen=True, eq=False)
class DeviationSpectra:
    """Per shape-preserving block, the SLQ density of the singular values of J - I over a batch of examples;
    `pooled` is their union, each block weighted by its dimension D (as if every block's D singular values were
    counted). `dims`, `skipped` and `mode` as in jacobian.BlockSpectra; `examples`, `probes`, `steps` the budget."""

    blocks: dict[str, Density]
    pooled: Density
    dims: dict[str, int]
    skipped: dict[str, str]
    mode: str
    examples: int
    probes: int
    steps: int


def block_deviation_spectra(net: Net, x: torch.Tensor, probes: int = 2, steps: int = 30, seed: int = 0,
                            bn_mode: str | None = None) -> DeviationSpectra:
    """Singular values of J - I of every shape-preserving block of `net` at its own inputs when the net sees the
    batch x (N, *example_shape), by SLQ with `probes` Rademacher vectors per example and `steps` Lanczos steps.
    A batch-norm net must be in eval mode (calibrate_batchnorm), so each example's Jacobian is its own."""
    if probes < 1 or steps < 1:
        raise ValueError(f"block_deviation_spectra needs probes >= 1 and steps >= 1, got {probes}, {steps}")
    net, x, mode = _batch(net, x, "block_deviation_spectra", bn_mode)
    with frozen(net):
        kept, skipped = _shape_preserving(net, x)
        dens = {name: singular_value_density(block, x_in, probes, steps, seed=seed + i)
                for i, (name, block, x_in) in enumerate(kept)}
    dims = {name: x_in[0].numel() for name, _, x_in in kept}
    pooled = mixture([(dens[k], float(dims[k])) for k in dens])
    return DeviationSpectra(dens, pooled, dims, skipped, mode, x.shape[0], probes, steps)
