"""What the generated image tasks (data/multiscale.py, data/pathfinder.py) share: a seeded generator called once
per split, its uint8 arrays cached as a plain `.npz` named by a digest of everything they depend on (the task's
name, its generator version and arguments), written atomically, and read back without pickle."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from .._atomic import atomic_path
from ._common import build
from .cache import digest
from .dataset import Dataset

Generator = Callable[[int, np.random.Generator], tuple[np.ndarray, np.ndarray]]  # (n, rng) -> (x uint8, y int64)


def _read(path: Path) -> dict[str, np.ndarray] | None:
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in ("train_x", "train_y", "test_x", "test_y")}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None  # absent or not ours (writes are atomic): generate again


def generated(name: str, version: int, args: dict[str, Any], generate: Generator, sizes: tuple[int, int],
              seed: int, classes: Sequence[str], cache: Path, source: str) -> Dataset:
    """The dataset `generate` makes: train from seed `seed`, test from seed `seed + 1` (independent examples),
    cached under `cache/<name>/`. x: (N, 1, H, W) uint8; y: (N,) int64."""
    key = {"name": name, "version": version, "args": args, "sizes": list(sizes), "seed": seed}
    path = cache / name / f"{name}-{digest(key)}.npz"
    arrays = _read(path)
    if arrays is None:
        arrays = {}
        for split, n, s in (("train", sizes[0], seed), ("test", sizes[1], seed + 1)):
            arrays[f"{split}_x"], arrays[f"{split}_y"] = generate(n, np.random.default_rng(s))
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:  # a file object, so numpy does not append ".npz" to the temp name
                np.savez(f, **arrays)
    return build(name, "image", classes, (arrays["train_x"], arrays["train_y"]), (arrays["test_x"], arrays["test_y"]),
                 source=f"{source}; generated (seed {seed}), cached in {path}", version=f"{name}-v{version}")


def to_uint8(img: np.ndarray) -> np.ndarray:
    """Float images in [0, 1] (N, H, W) -> uint8 (N, 1, H, W)."""
    return np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)[:, None]
