"""Multi-scale shapes: six shape classes (disk, ring, square, frame, plus, triangle), each drawn at a random size
whose largest is 4x its smallest (radius log-uniform in [R_MIN, 4 R_MIN] pixels), random position, rotation and
brightness, plus pixel noise, rendered at SIZE x SIZE (antialiased by 4x4 supersampling).

What it tests: the same class appears at scales varying 4x, so a model must recognise it at several receptive-field
sizes (the case for Inception's parallel 1x1/3x3/5x5 branches), and the smallest shapes (ring vs disk vs frame at
~4 px wide) lose their distinguishing detail when a model downsamples its input (so resolution scaling adds
information). Rendered at 32 px, the highest resolution any quick-scale model uses.

`multiscale-visible` (load_visible) is the same task with radii VISIBLE_R_MIN to 3x that (scales vary 3x): its
smallest shapes keep a radius of 2 px at a 16 px model input, so a low input resolution loses detail but no class
(compound-scaling's task, where resolution must not win by construction).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np

from .dataset import Dataset
from .generated import generated, to_uint8

CLASSES = ("disk", "ring", "square", "frame", "plus", "triangle")
SIZE = 32  # rendered side in pixels
R_MIN, SCALE_RANGE = 2.0, 4.0  # radius from R_MIN to R_MIN * SCALE_RANGE pixels: scales vary 4x
SUPERSAMPLE = 4
NOISE = 0.15  # std of the Gaussian pixel noise (images in [0, 1])
VERSION = 1  # bump when the rendering changes: part of the cache key
SPLITS = (3000, 1000)
VISIBLE_R_MIN, VISIBLE_SCALE_RANGE = 4.0, 3.0  # multiscale-visible: radii 4-12 px at 32 px (2-6 px at 16 px)


def _inside(cls: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Whether the local coordinates (u, v) (N, P, unit radius) fall inside shape `cls` (N, 1)."""
    r, m = np.hypot(u, v), np.maximum(np.abs(u), np.abs(v))
    s3 = np.sqrt(3.0)
    masks = [r <= 1, (r <= 1) & (r >= 0.55), m <= 0.8, (m <= 0.8) & (m >= 0.45),
             ((np.abs(u) <= 0.3) & (np.abs(v) <= 1)) | ((np.abs(v) <= 0.3) & (np.abs(u) <= 1)),
             (v >= -0.5) & (v <= 1 - s3 * u) & (v <= 1 + s3 * u)]
    return np.select([cls == k for k in range(len(CLASSES))], masks, False)


def render(n: int, rng: np.random.Generator, r_min: float | None = None,
           scale_range: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """n images (n, 1, SIZE, SIZE) uint8 and labels (n,) int64 (balanced: label = index mod 6, then shuffled);
    radii log-uniform in [r_min, r_min * scale_range] (default R_MIN, SCALE_RANGE)."""
    r_min = R_MIN if r_min is None else r_min
    scale_range = SCALE_RANGE if scale_range is None else scale_range
    y = rng.permutation(np.arange(n) % len(CLASSES)).astype(np.int64)
    radius = r_min * scale_range ** rng.random(n)
    cx, cy = (rng.uniform(radius + 1, SIZE - radius - 1) for _ in range(2))
    theta = rng.uniform(0, 2 * np.pi, n)
    bright = rng.uniform(0.6, 1.0, n)
    g = (np.arange(SIZE * SUPERSAMPLE) + 0.5) / SUPERSAMPLE  # sub-pixel centres
    gx, gy = (a.ravel()[None] for a in np.meshgrid(g, g, indexing="xy"))
    out = np.empty((n, SIZE, SIZE), np.float32)
    for s in range(0, n, 256):  # chunks keep the (chunk, pixels) arrays small
        sl = slice(s, s + 256)
        dx, dy = gx - cx[sl, None], gy - cy[sl, None]
        c, si, rad = np.cos(theta[sl])[:, None], np.sin(theta[sl])[:, None], radius[sl, None]
        u, v = (c * dx + si * dy) / rad, (-si * dx + c * dy) / rad
        ink = _inside(y[sl, None], u, v).astype(np.float32)
        ink = ink.reshape(-1, SIZE, SUPERSAMPLE, SIZE, SUPERSAMPLE).mean((2, 4))
        out[sl] = ink * bright[sl, None, None]
    out += rng.normal(0, NOISE, out.shape).astype(np.float32)
    return to_uint8(out), y


def load(cache: Path) -> Dataset:
    args = {"size": SIZE, "r_min": R_MIN, "scale_range": SCALE_RANGE, "supersample": SUPERSAMPLE, "noise": NOISE}
    return generated("multiscale", VERSION, args, render, SPLITS, 0, CLASSES, cache,
                     f"6 shapes at radii {R_MIN:g}-{R_MIN * SCALE_RANGE:g} px (scales vary {SCALE_RANGE:g}x), "
                     f"{SIZE}x{SIZE}")


def load_visible(cache: Path) -> Dataset:
    r, k = VISIBLE_R_MIN, VISIBLE_SCALE_RANGE
    args = {"size": SIZE, "r_min": r, "scale_range": k, "supersample": SUPERSAMPLE, "noise": NOISE}
    return generated("multiscale-visible", VERSION, args, partial(render, r_min=r, scale_range=k), SPLITS, 0, CLASSES,
                     cache, f"6 shapes at radii {r:g}-{r * k:g} px (scales vary {k:g}x), {SIZE}x{SIZE}")
