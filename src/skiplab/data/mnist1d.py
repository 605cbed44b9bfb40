"""MNIST-1D (Greydanus 2020): ten 1D digit templates, shifted, scaled, sheared and noised into length-40 signals.

Generated offline with the `mnist1d` package at its default settings (4000 train / 1000 test) -- its
`get_dataset` would download a pickle, which this project never unpickles -- and cached as a plain `.npz`
keyed by the generator's arguments.

`mnist1d-10k` (load(cache, large=True)) is the same generator asked for 14000 signals, split 4000 train / 10000
test: the same training set size, and a test split large enough that a 1-point accuracy difference exceeds twice
its binomial standard error (2 sqrt(2 p (1 - p) / n) = 0.67 points at p = 0.94, n = 10000; 2.1 points at n = 1000).
"""

from __future__ import annotations

import random
import zipfile
from pathlib import Path

import numpy as np

from .._atomic import atomic_path
from ._common import build
from .cache import digest
from .dataset import Dataset


LARGE = (4000, 10000)  # mnist1d-10k: train / test signals


def _args(large: bool):
    from mnist1d.data import get_dataset_args

    args = get_dataset_args()
    if large:
        args.num_samples = sum(LARGE)
        args.train_split = LARGE[0] / sum(LARGE)
    return args


def _generate(large: bool = False) -> dict[str, np.ndarray]:
    from mnist1d.data import make_dataset

    args = _args(large)
    # make_dataset reseeds the global `random` and `np.random` generators; put them back for the caller.
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        data = make_dataset(args)
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    return {"train_x": data["x"], "train_y": data["y"], "test_x": data["x_test"], "test_y": data["y_test"]}


def _cache_file(cache: Path, large: bool = False) -> Path:
    args = dict(vars(_args(large)))
    args.pop("url", None)  # where get_dataset would download from; it does not change what make_dataset makes
    return cache / "mnist1d" / f"mnist1d-{digest(args)}.npz"


def _read(path: Path) -> dict[str, np.ndarray] | None:
    """The cached arrays, or None if absent or unreadable (then regenerated: writes are atomic, so an unreadable
    entry was not written by us, and generating it again is cheap)."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in ("train_x", "train_y", "test_x", "test_y")}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None


def load(cache: Path, large: bool = False) -> Dataset:
    path = _cache_file(cache, large)
    arrays = _read(path)
    if arrays is None:
        arrays = _generate(large) if large else _generate()
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:  # a file object, so numpy does not append ".npz" to the temp name
                np.savez(f, **arrays)
    split = [(arrays[f"{s}_x"].astype(np.float32)[:, None], arrays[f"{s}_y"]) for s in ("train", "test")]
    return build("mnist1d-10k" if large else "mnist1d", "sequence", [str(d) for d in range(10)], split[0], split[1],
                 source=f"mnist1d.make_dataset at default args (generated offline), cached in {path}")
