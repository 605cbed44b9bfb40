"""A Pathfinder-like task (Linsley et al. 2018, "Learning long-range spatial dependencies with horizontal gated
recurrent units"): two smooth random curves and two marker squares on curve ends; the label says whether the two
markers sit on the two ends of the *same* curve (1, "joined") or on different curves (0).

What it tests: the answer is not local -- every image has two curves and four curve ends, only which ends are
marked differs -- so a model must follow a curve from one marker to the other, a chain of many local steps (the
case for deep sequential stacks). Curves are CURVE_STEPS steps of 1 px whose heading changes by N(0, TURN) radians
per step, kept inside the image and apart from each other, drawn antialiased at SIZE x SIZE with a little pixel
noise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .dataset import Dataset
from .generated import generated, to_uint8

CLASSES = ("apart", "joined")
SIZE = 32
CURVE_STEPS, TURN = 20, 0.35  # steps of 1 px per curve; heading change per step (radians, std)
MARGIN = 3.0  # curves stay this far inside the border
SEPARATION = 5.0  # the two curves' points stay this far apart (pixels): markers and strokes never touch the other
CURVE_INK, NOISE = 0.55, 0.05
VERSION = 2  # 2: curves kept SEPARATION apart
SPLITS = (4000, 1000)


def _walks(m: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """m smooth random walks (m, CURVE_STEPS + 1, 2) and whether each stays inside the margin."""
    start = rng.uniform(MARGIN, SIZE - MARGIN, (m, 2))
    heading = rng.uniform(0, 2 * np.pi, m)[:, None] + np.cumsum(rng.normal(0, TURN, (m, CURVE_STEPS)), 1)
    steps = np.stack([np.cos(heading), np.sin(heading)], -1)
    pts = np.concatenate([start[:, None], start[:, None] + np.cumsum(steps, 1)], 1)
    return pts, ((pts >= MARGIN) & (pts <= SIZE - MARGIN)).all((1, 2))


def _curves(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 2, CURVE_STEPS + 1, 2) curve points (x, y): both curves inside the margin and never closer than
    SEPARATION pixels to each other, by rejection per example. Separated curves make the label exactly "the
    markers are connected by ink" (crossings would let a negative's markers touch through the other curve)."""
    out = np.empty((n, 2, CURVE_STEPS + 1, 2))
    todo = np.arange(n)
    while todo.size:
        m = todo.size
        a, ok_a = _walks(m, rng)
        b, ok_b = _walks(m, rng)
        gap = np.sqrt(((a[:, :, None] - b[:, None]) ** 2).sum(-1)).min((1, 2))
        ok = ok_a & ok_b & (gap >= SEPARATION)
        out[todo[ok], 0], out[todo[ok], 1] = a[ok], b[ok]
        todo = todo[~ok]
    return out


def render(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n images (n, 1, SIZE, SIZE) uint8 and labels (n,) int64, half of each."""
    y = rng.permutation(np.arange(n) % 2).astype(np.int64)
    curves = _curves(n, rng)
    a_end = rng.integers(0, 2, n) * CURVE_STEPS  # which end of curve A carries the first marker
    b_end = rng.integers(0, 2, n) * CURVE_STEPS
    idx = np.arange(n)
    first = curves[idx, 0, a_end]
    second = np.where(y[:, None] == 1, curves[idx, 0, CURVE_STEPS - a_end], curves[idx, 1, b_end])
    # half-pixel sampling of the polylines, so the drawn stroke has no gaps
    mids = (curves[:, :, 1:] + curves[:, :, :-1]) / 2
    dense = np.concatenate([curves, mids], 2).reshape(n, -1, 2)
    g = np.arange(SIZE) + 0.5
    px = np.stack(np.meshgrid(g, g, indexing="xy"), -1).reshape(-1, 2)  # (P, 2) pixel centres (x, y)
    out = np.empty((n, SIZE, SIZE), np.float32)
    for s in range(0, n, 128):
        sl = slice(s, s + 128)
        d = np.sqrt(((px[None, :, None] - dense[sl, None]) ** 2).sum(-1)).min(-1)  # (chunk, P)
        ink = CURVE_INK * np.clip(1 - np.maximum(d - 0.4, 0) / 0.6, 0, 1)
        for mk in (first[sl], second[sl]):  # 3x3-pixel marker squares, full brightness
            near = (np.abs(px[None, :, 0] - mk[:, None, 0]) <= 1.5) & (np.abs(px[None, :, 1] - mk[:, None, 1]) <= 1.5)
            ink = np.where(near, 1.0, ink)
        out[sl] = ink.reshape(-1, SIZE, SIZE)
    out += rng.normal(0, NOISE, out.shape).astype(np.float32)
    return to_uint8(out), y


def load(cache: Path) -> Dataset:
    args = {"size": SIZE, "steps": CURVE_STEPS, "turn": TURN, "margin": MARGIN, "separation": SEPARATION,
            "ink": CURVE_INK, "noise": NOISE}
    return generated("pathfinder", VERSION, args, render, SPLITS, 0, CLASSES, cache,
                     f"two {CURVE_STEPS}-px curves, are the two markers on one curve, {SIZE}x{SIZE}")
