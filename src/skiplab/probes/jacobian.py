"""Jacobians at one example: of single blocks (is x -> x + F(x) near the identity?) and of the whole feature map.

A pre-activation block computes x + h F(x), so its Jacobian is I + h dF/dx and its eigenvalues are 1 + h lambda;
with a small branch they cluster around 1 (claim jacobian-near-identity). Single-example probes run in eval mode
with calibrated batch-norm statistics (DESIGN.md), so the map differentiated does not depend on a batch.

Small maps get the dense Jacobian (column blocks of forward-mode products) and numpy's dense eig/SVD in float64.
Large ones never form the matrix: ARPACK (scipy.sparse.linalg) runs Arnoldi/Lanczos on a LinearOperator whose
products are `torch.func.jvp` / `vjp` of the model, and returns a few extreme eigen- or singular values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Callable, Iterator, Literal

import numpy as np
import torch
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigs, svds
from torch import nn
from torch.func import jvp, vjp, vmap

from ..guards import check_net, check_single, eval_mode_note, frozen, prepare
from ..models import Net

EXACT_MAX_DIM = 2048  # "auto": dense eig up to D = 2048 (a 2048^2 eig takes seconds), Arnoldi above
EXACT_MAX_ENTRIES = 2 ** 22  # "auto" for end-to-end: a dense (D_out, D_in) Jacobian up to 4M entries
_CHUNK = 256  # Jacobian columns per vmapped jvp: bounds memory at 256 copies of the activations

Flat = Callable[[torch.Tensor], torch.Tensor]


def _flat(fn: Callable[[torch.Tensor], torch.Tensor], shape: torch.Size) -> Flat:
    """fn on (1, *shape[1:]) tensors as a map of flat vectors (D,) -> (D_out,)."""
    return lambda v: fn(v.reshape(shape)).reshape(-1)


def _dense_jacobian(f: Flat, x: torch.Tensor) -> torch.Tensor:
    """(D_out, D_in) Jacobian of the flat map f at x (D_in,), one column block of basis vectors at a time
    (`torch.func.jacfwd` does the same in one vmap over all D_in columns, which runs out of memory on images)."""
    n = x.numel()
    column = vmap(lambda v: jvp(f, (x,), (v,))[1])
    cols = []
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        basis = torch.zeros(stop - start, n, dtype=x.dtype, device=x.device)
        basis[torch.arange(stop - start), torch.arange(start, stop)] = 1
        cols.append(column(basis))
    return torch.cat(cols).T


def _operator_io(x: torch.Tensor) -> tuple[Callable[[np.ndarray], torch.Tensor], Callable[[torch.Tensor], np.ndarray],
                                           float, np.random.Generator]:
    """numpy <-> torch conversion for ARPACK's float64 vectors, a tolerance the model's precision can meet, and a
    seeded start vector generator (ARPACK's default start is random: results would differ run to run)."""
    to_t = lambda v: torch.as_tensor(np.asarray(v, dtype=np.float64).reshape(-1)).to(x.device, x.dtype)
    to_np = lambda t: t.detach().double().cpu().numpy()
    tol = 1e-10 if x.dtype == torch.float64 else 1e-5  # float32 products carry ~1e-7 relative noise
    return to_t, to_np, tol, np.random.default_rng(0)


def block_jacobian(block: nn.Module, x_single: torch.Tensor) -> torch.Tensor:
    """Exact Jacobian d block(x) / dx of a shape-preserving block at one example.

    x_single: (1, *S) with D = prod(S). Returns (D, D) in the block's dtype, rows = outputs, columns = inputs
    (both flattened in row-major order). A block with batch norm must be in eval mode with calibrated statistics.
    """
    if not isinstance(block, nn.Module):
        raise ValueError(f"block_jacobian needs a block (an nn.Module), got {type(block).__name__}")
    check_single(x_single, "block_jacobian")
    eval_mode_note(block, "block_jacobian")
    x = prepare(block, x_single).detach()
    with frozen(block):
        with torch.no_grad():
            out_shape = block(x).shape
        if out_shape != x.shape:
            raise ValueError(f"block_jacobian needs a shape-preserving block; this one maps {tuple(x.shape)} "
                             f"-> {tuple(out_shape)}")
        return _dense_jacobian(_flat(block, x.shape), x.reshape(-1))


def _arnoldi_eigenvalues(f: Flat, x: torch.Tensor, k: int, target: str) -> np.ndarray:
    """k eigenvalues of the Jacobian of f at x: those of largest |mu| ("magnitude") or largest |mu - 1|
    ("deviation": ARPACK on J - I, whose extremes are well separated when the bulk clusters at 1)."""
    n = x.numel()
    k = min(k, n - 2)  # ARPACK's eigs needs k < D - 1
    if k < 1:
        raise ValueError(f"arnoldi needs a block of dimension >= 3, got {n}; use method='exact'")
    to_t, to_np, tol, rng = _operator_io(x)
    shift = 1.0 if target == "deviation" else 0.0

    def matvec(v: np.ndarray) -> np.ndarray:
        return to_np(jvp(f, (x,), (to_t(v),))[1]) - shift * np.asarray(v, dtype=np.float64).reshape(-1)

    op = LinearOperator((n, n), matvec=matvec, dtype=np.float64)
    # A wider Krylov space than ARPACK's default (2k + 1, at least 20) means fewer restarts: with a bulk of
    # eigenvalues clustered at 1 the default needed ~3x more products (each a jvp) to converge.
    ncv = min(n, max(2 * k + 1, 60))
    try:
        vals = eigs(op, k=k, which="LM", v0=rng.standard_normal(n), ncv=ncv, tol=tol, return_eigenvectors=False)
    except ArpackNoConvergence as e:  # keep what converged rather than nothing
        vals = e.eigenvalues
    vals = np.asarray(vals, dtype=np.complex128) + shift
    return vals[np.argsort(-np.abs(vals - shift), kind="stable")]


@dataclass(frozen=True, eq=False)  # eq on numpy arrays is ambiguous; compare fields yourself
class BlockSpectra(Mapping):
    """{block name: eigenvalues (numpy complex128)} of every shape-preserving block, in forward order.

    exact:   all D eigenvalues, sorted by decreasing |mu|.
    arnoldi: the k extreme ones, sorted by decreasing |mu - 1| (target "deviation") or |mu| ("magnitude").
    `methods[name]` says which; `skipped` names the blocks left out (shape-changing) and why; `dims` gives D;
    `kinds` the block kind; `mode` the batch-norm mode the Jacobians were taken in.
    """

    eigenvalues: dict[str, np.ndarray]
    methods: dict[str, str]
    dims: dict[str, int]
    kinds: dict[str, str]
    skipped: dict[str, str]
    mode: str

    def __getitem__(self, name: str) -> np.ndarray:
        return self.eigenvalues[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.eigenvalues)

    def __len__(self) -> int:
        return len(self.eigenvalues)


def block_eigenvalues(net: Net, x_single: torch.Tensor, method: Literal["auto", "exact", "arnoldi"] = "auto",
                      k: int = 20, target: Literal["deviation", "magnitude"] = "deviation",
                      bn_mode: str | None = None) -> BlockSpectra:
    """Eigenvalues of every shape-preserving block's Jacobian at the block's own input when the net sees
    x_single (1, *example_shape).

    method: "exact" (dense Jacobian, float64 numpy eig), "arnoldi" (k eigenvalues by ARPACK on jvp products,
    chosen by `target`, see BlockSpectra) or "auto" (exact when D <= 2048, else arnoldi). `bn_mode` is the note
    `calibrate_batchnorm` returned, recorded as the mode; a batch-norm net must be in eval mode.
    """
    net = check_net(net, "block_eigenvalues")
    check_single(x_single, "block_eigenvalues")
    if method not in ("auto", "exact", "arnoldi"):
        raise ValueError(f"block_eigenvalues: method must be auto, exact or arnoldi, got {method!r}")
    if target not in ("deviation", "magnitude"):
        raise ValueError(f"block_eigenvalues: target must be deviation or magnitude, got {target!r}")
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"block_eigenvalues: k must be an integer >= 1, got {k!r}")
    mode = eval_mode_note(net, "block_eigenvalues", bn_mode)
    x = prepare(net, x_single)
    with torch.no_grad():
        inter = net.block_outputs(x)
    names = list(inter)
    eig, methods, dims, kinds, skipped = {}, {}, {}, {}, {}
    with frozen(net):
        for prev, (name, block) in zip(names, net.blocks()):
            x_in, x_out = inter[prev].detach(), inter[name]
            kinds[name] = block.kind
            if x_in.shape != x_out.shape:
                skipped[name] = (f"changes the shape {tuple(x_in.shape[1:])} -> {tuple(x_out.shape[1:])}, so its "
                                 "Jacobian is not square and has no eigenvalues")
                continue
            d = x_in.numel()
            use = method if method != "auto" else ("exact" if d <= EXACT_MAX_DIM else "arnoldi")
            if use == "exact":
                jac = block_jacobian(block, x_in).double().cpu().numpy()
                vals = np.linalg.eigvals(jac).astype(np.complex128)
                eig[name] = vals[np.argsort(-np.abs(vals), kind="stable")]
                methods[name] = "exact"
            else:
                eig[name] = _arnoldi_eigenvalues(_flat(block, x_in.shape), x_in.reshape(-1), k, target)
                methods[name] = f"arnoldi (k={len(eig[name])}, largest |mu{' - 1' if target == 'deviation' else ''}|)"
            dims[name] = d
    return BlockSpectra(eig, methods, dims, kinds, skipped, mode)


@dataclass(frozen=True)
class SingularValues:
    """Singular values of d features / d input at one example, decreasing. `method` is "exact" (all
    min(D_out, D_in) of them) or "svds (k=...)" (the k largest); shape = (D_out, D_in); mode as in BlockSpectra."""

    values: np.ndarray
    method: str
    shape: tuple[int, int]
    mode: str


def end_to_end_singular_values(net: Net, x_single: torch.Tensor, method: Literal["auto", "exact", "svds"] = "auto",
                               k: int = 6, bn_mode: str | None = None) -> SingularValues:
    """Singular values of the Jacobian of `net.forward_features` (the map the head reads, in pixel space: input
    normalization included) at x_single (1, *example_shape).

    "exact": dense Jacobian + numpy SVD in float64; "svds": the k largest by ARPACK's Lanczos on jvp/vjp
    products; "auto": exact up to 4M Jacobian entries, else svds.
    """
    net = check_net(net, "end_to_end_singular_values")
    check_single(x_single, "end_to_end_singular_values")
    if method not in ("auto", "exact", "svds"):
        raise ValueError(f"end_to_end_singular_values: method must be auto, exact or svds, got {method!r}")
    mode = eval_mode_note(net, "end_to_end_singular_values", bn_mode)
    x = prepare(net, x_single).detach()
    with frozen(net):
        f = _flat(net.forward_features, x.shape)
        xf = x.reshape(-1)
        with torch.no_grad():
            d_out = f(xf).numel()
        d_in = xf.numel()
        use = method if method != "auto" else ("exact" if d_in * d_out <= EXACT_MAX_ENTRIES else "svds")
        if use == "exact":
            jac = _dense_jacobian(f, xf).double().cpu().numpy()
            return SingularValues(np.linalg.svd(jac, compute_uv=False), "exact", (d_out, d_in), mode)
        k = min(k, min(d_in, d_out) - 1)  # ARPACK's svds needs k < min(shape)
        if k < 1:
            raise ValueError("svds needs a Jacobian with both dimensions >= 2; use method='exact'")
        to_t, to_np, tol, rng = _operator_io(xf)
        _, pullback = vjp(f, xf)  # linearized once; each rmatvec reuses it
        op = LinearOperator((d_out, d_in), dtype=np.float64,
                            matvec=lambda v: to_np(jvp(f, (xf,), (to_t(v),))[1]),
                            rmatvec=lambda u: to_np(pullback(to_t(u))[0]))
        s = svds(op, k=k, tol=tol, v0=rng.standard_normal(min(d_in, d_out)), return_singular_vectors=False)
    return SingularValues(np.sort(np.asarray(s, dtype=np.float64))[::-1].copy(), f"svds (k={k})", (d_out, d_in), mode)


def spectrum_summary(mu: np.ndarray) -> dict[str, float]:
    """How close eigenvalues mu (any shape, complex) sit to 1: median and 90th percentile of |mu - 1| and of
    |mu|, and the spectral radius max |mu|. For an Arnoldi result these describe the k extremes only."""
    mu = np.asarray(mu, dtype=np.complex128).reshape(-1)
    if mu.size == 0:
        raise ValueError("spectrum_summary needs at least one eigenvalue")
    dev, mag = np.abs(mu - 1), np.abs(mu)
    return {"n": int(mu.size), "median_dev": float(np.median(dev)), "p90_dev": float(np.percentile(dev, 90)),
            "median_abs": float(np.median(mag)), "p90_abs": float(np.percentile(mag, 90)),
            "spectral_radius": float(mag.max())}
