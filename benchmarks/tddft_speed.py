"""Helium with the ALDA (dx 0.1, box +-20, dt 0.05), ETRS: skiplab's propagation (banded kinetic operator, Lanczos
exponentials) against a straightforward dense-matrix ETRS (H as an M x M matrix, scipy.linalg.expm for every
exponential), in one process on the same kicked ground state.

The goal: 12,000 steps in under a minute on the 2-core CPU. The dense way is timed on a short stretch (it takes
seconds per few steps) in interleaved repeats with an equally long stretch of the fast way; printed: per-step
medians and spread (min-max), their ratio, the full 12,000-step run of the fast way, and the dense way's time
projected to 12,000 steps. Both ways are checked to agree on the dipole after the stretch.

    python benchmarks/tddft_speed.py [--steps 12000] [--stretch 20] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from scipy.linalg import expm
from threadpoolctl import threadpool_limits

from skiplab.physics import Grid, KohnSham, ground_state, kick, preset, propagate
from skiplab.physics.propagators import ETRS


class DenseETRS(ETRS):
    """ETRS with every exponential exp(-i tau H) formed as a dense matrix: the straightforward way."""

    def expm(self, psi, v, tau):
        h = self.ks.grid.kinetic_dense() + np.diag(v)
        return expm(-1j * tau * h) @ psi


def dense_run(ks, psi, dt, steps):
    prop = DenseETRS(ks)
    t0 = time.perf_counter()
    for k in range(steps):
        psi = prop.step(psi, k * dt, dt)
    return time.perf_counter() - t0, ks.dipole(psi)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=12_000)
    p.add_argument("--stretch", type=int, default=20, help="steps per timed stretch of the dense way")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    ks = KohnSham(preset("he", Grid(20.0, 0.1, 8)), "lda")
    psi = kick(ground_state(ks).orbitals, ks.grid.x, 1e-3).astype(complex)
    dt = 0.05
    fast, dense = [], []
    for _ in range(args.repeats):  # interleaved, so a change in machine load hits both
        tr = propagate(ks, psi, "etrs", dt, args.stretch, energy=False)
        fast.append(tr.seconds / args.stretch)
        with threadpool_limits(1):  # the same single BLAS thread as propagate() uses
            s, d_dense = dense_run(ks, psi, dt, args.stretch)
        dense.append(s / args.stretch)
        assert abs(tr.dipole[-1] - d_dense) < 1e-10, (tr.dipole[-1], d_dense)
    mf, md = statistics.median(fast), statistics.median(dense)
    print(f"per step, median of {args.repeats} stretches of {args.stretch} steps (min-max):")
    print(f"  skiplab (banded + Lanczos): {mf * 1e3:8.3f} ms ({min(fast) * 1e3:.3f}-{max(fast) * 1e3:.3f})")
    print(f"  dense expm:                 {md * 1e3:8.3f} ms ({min(dense) * 1e3:.3f}-{max(dense) * 1e3:.3f})")
    print(f"  ratio skiplab / dense: {mf / md:.4f} (dense is {md / mf:.0f}x slower)")
    tr = propagate(ks, psi, "etrs", dt, args.steps)
    print(f"full run: {args.steps} ETRS steps (t = {args.steps * dt:g}) with energies recorded in {tr.seconds:.1f} s "
          f"(goal < 60 s); norm drift {tr.drift('norm'):.1e}, energy drift {tr.drift('energy'):.1e} Ha; dense way "
          f"projected: {md * args.steps:.0f} s")


if __name__ == "__main__":
    main()
