"""The shuffled-pairing null of a per-example cosine: many random derangements of which example's F is paired with
which example's error direction, all read off one matrix of pairwise cosines per block (only the pairing changes,
so a thousand derangements cost one matrix product and a gather)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

_EPS = 1e-30  # a zero vector gets cosine 0 (it points nowhere), not NaN
LEVEL = 0.99  # the null's quantile the observed mean must clear


def derangements(n: int, k: int, seed: int = 0) -> torch.Tensor:
    """k permutations of range(n), each with no fixed point, drawn uniformly among derangements by rejection (a
    random permutation is one with probability ~1/e). A fixed point would pair an example with itself and leak the
    real alignment into the null. Returns (k, n) long."""
    if n < 2 or k < 1:
        raise ValueError(f"a shuffled-pairing null needs n >= 2 examples and k >= 1 derangements, got {n}, {k}")
    g = torch.Generator().manual_seed(seed)
    rows: list[torch.Tensor] = []
    ident = torch.arange(n)
    while len(rows) < k:
        p = torch.randperm(n, generator=g)
        if not (p == ident).any():
            rows.append(p)
    return torch.stack(rows)


def unit_rows(a: torch.Tensor) -> torch.Tensor:
    """(N, *shape) -> (N, D) float64, each row scaled to unit length (a zero row stays zero)."""
    a = a.detach().reshape(a.shape[0], -1).double()
    norm = torch.linalg.vector_norm(a, dim=1, keepdim=True)
    return torch.where(norm > _EPS, a / norm.clamp_min(_EPS), torch.zeros_like(a))


def pairwise_cosines(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """C[i, j] = cos(a_i, b_j) for a, b of shape (N, *shape): (N, N) float64; its diagonal is the real pairing."""
    if a.shape != b.shape:
        raise ValueError(f"pairwise_cosines: shapes differ, {tuple(a.shape)} vs {tuple(b.shape)}")
    return unit_rows(a) @ unit_rows(b).T


def null_test(cosines: Sequence[torch.Tensor], perms: torch.Tensor) -> dict[str, Any]:
    """The observed mean cosine against its shuffled-pairing null, per block and over blocks.

    cosines: per block an (N, N) matrix of pairwise cosines (pairwise_cosines); perms: (K, N) derangements. The
    statistic A is the mean over blocks of each block's batch-mean cosine; under derangement k every block is
    re-paired by the same k (the examples are shuffled, not the blocks), giving K null values of A. Returns
    JSON-ready: cos / null_mean / null_q99 per block; mean_cos (A); null {mean, sd, q99} of A over the K
    derangements; lead = A - null q99 (positive: A beyond the null's 99th percentile)."""
    if not cosines:
        nan = float("nan")
        return {"cos": [], "null_mean": [], "null_q99": [], "mean_cos": nan,
                "null": {"mean": nan, "sd": nan, "q99": nan, "k": int(perms.shape[0])}, "lead": nan}
    rows = torch.arange(perms.shape[1])
    real = torch.stack([c.diagonal().mean() for c in cosines])  # (L,)
    null = torch.stack([c[rows, perms].mean(1) for c in cosines])  # (L, K)
    over_blocks = null.mean(0)  # (K,)
    a, q99 = float(real.mean()), float(torch.quantile(over_blocks, LEVEL))
    return {"cos": real.tolist(), "null_mean": null.mean(1).tolist(),
            "null_q99": torch.quantile(null, LEVEL, dim=1).tolist(), "mean_cos": a,
            "null": {"mean": float(over_blocks.mean()), "sd": float(over_blocks.std()), "q99": q99,
                     "k": int(perms.shape[0])},
            "lead": a - q99}
