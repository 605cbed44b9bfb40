"""The ladder's pre-activation pair at init and trained: the Jensen profile of every shape-preserving block's J - I
over the fixed probe examples (the judged fractions), the singular values of J - I by SLQ (reported), and for the
first seed the eigenvalues at one example and the end-to-end singular values (figures)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from skiplab.claims.core.contract import Context
from skiplab.claims.core.datasets import calibration_batch, probe_batch
from skiplab.claims.core.engine import Done
from skiplab.claims.depth.ladder import jacobian_runs, scale_config, spec
from skiplab.models import calibrate_batchnorm

from .rule import CALIBRATION, EXAMPLES, FAMILIES, RADII, STEPS

STATES = ("init", "trained")
SIGMA_STEPS = 30  # singular values of J - I (reported): one probe per example, a 30-node quadrature each
TAIL = 0.1  # reported: the mean of the largest tenth of sigma(J - I), an upper bound of the 90th percentile of |mu-1|


def runs(ctx: Context):
    return jacobian_runs(ctx)


def budget(ctx: Context) -> str:
    scale = scale_config(ctx)
    return (f"preresnet{scale.jacobian_depth} and its plain twin, trained as the ladder's runs: "
            + scale.describe(ctx.seeds) + f"; block spectra at {EXAMPLES} training examples, {STEPS} Lanczos steps "
            f"per example and radius")


def _probe(net: Any, data: Any, x: Any, first: bool) -> dict[str, Any]:
    from skiplab.probes import block_eigenvalues, end_to_end_singular_values
    from skiplab.probes.spectral_density import block_deviation_spectra, block_eigen_profile
    device = "cuda" if torch.cuda.is_available() else "cpu"  # full scale: 32 examples x 27 blocks of 16k dims
    net = net.to(device)
    mode = calibrate_batchnorm(net, calibration_batch(data, CALIBRATION)[0].to(device))
    x = x.to(device)
    prof = block_eigen_profile(net, x, RADII, steps=STEPS, bn_mode=mode)
    sigma = block_deviation_spectra(net, x, probes=1, steps=SIGMA_STEPS, bn_mode=mode).pooled
    out: dict[str, Any] = {
        "mode": mode, "examples": prof.examples, "steps": prof.steps, "skipped": sorted(prof.skipped),
        "radii": list(RADII), "phi": [round(float(p), 6) for p in prof.pooled],
        "near": prof.fraction(RADII[0], RADII[1]), "far": prof.fraction(RADII[1], RADII[2]),
        "per_block": {k: round(prof.fraction(RADII[0], RADII[1], k), 6) for k in prof.blocks},
        "sigma_tail": sigma.upper_tail_mean(TAIL), "sigma_median": sigma.quantile(0.5)}
    if first:  # figures only: one example's eigenvalues, end-to-end singular values
        eig = block_eigenvalues(net, x[:1], bn_mode=mode)
        mus = np.concatenate([np.asarray(v) for v in eig.eigenvalues.values()]) if eig.eigenvalues else np.zeros(0)
        sv = np.asarray(end_to_end_singular_values(net, x[:1], bn_mode=mode).values, dtype=float)
        out.update(eig_methods=sorted(set(eig.methods.values())), real=np.round(mus.real, 4).tolist(),
                   imag=np.round(mus.imag, 4).tolist(), singular_values=np.round(sv, 6).tolist())
    return out


def probe_job(job: tuple[Done, Any, str, bool]) -> dict[str, Any]:
    """One net in one state (a ctx.map job: module-level, its arguments picklable)."""
    done, sp, state, first = job
    data = done.dataset(sp)
    return _probe(done.model(sp, trained=state == "trained"), data, probe_batch(data, EXAMPLES)[0], first)


def measure(ctx: Context, done: Done) -> dict[str, Any]:
    depth = scale_config(ctx).jacobian_depth
    keys = [(label, s, state) for _, label in FAMILIES for s in ctx.seed_list for state in STATES]
    fams = {label: fam for fam, label in FAMILIES}
    jobs = [(done, spec(ctx, fams[label], depth, s), state, s == ctx.seed_list[0]) for label, s, state in keys]
    probed = dict(zip(keys, ctx.map(probe_job, jobs, "block spectra", one_thread=not torch.cuda.is_available())))
    return {"depth": depth, "seeds": ctx.seed_list,
            "nets": {label: [{state: probed[(label, s, state)] for state in STATES} for s in ctx.seed_list]
                     for _, label in FAMILIES}}
