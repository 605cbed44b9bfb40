"""Any folder of images, one subfolder per class: `train/<class>/*` + `test/<class>/*`, or a single `<class>/*`
tree from which a stratified, seeded `val_fraction` is held out as the test split.

Images are decoded once, in parallel (`_decode`), and cached as a `.npy` array named by a digest of every file's
(relative path, size, mtime): editing, adding or removing any image gives a new entry, and an unchanged folder
loads without opening a single image.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .._atomic import atomic_path
from ..errors import DataError
from . import _decode
from ._common import build
from .cache import digest
from .dataset import Dataset

EXTENSIONS = (".png", ".jpg", ".jpeg")
_EXPECTED = "train/<class>/*.png|jpg|jpeg and test/<class>/..., or a single <class>/*.png|jpg|jpeg tree"


def _subdirs(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))


def _images(class_dir: Path) -> list[str]:
    # Plain strings, not Paths: on a 60,000-file folder Path objects cost seconds in construction and sorting.
    found = []
    for dirpath, dirnames, filenames in os.walk(class_dir):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        found += [os.path.join(dirpath, f) for f in filenames
                  if not f.startswith(".") and f.lower().endswith(EXTENSIONS)]
    if not found:
        raise DataError(f"class folder {class_dir} holds no {'/'.join(EXTENSIONS)} images; remove it or add some")
    return sorted(found)


def _split_tree(split_dir: Path) -> dict[str, list[str]]:
    classes = _subdirs(split_dir)
    if not classes:
        raise DataError(f"{split_dir} holds no class folders; expected {_EXPECTED}")
    return {c.name: _images(c) for c in classes}


def _scan(root: Path) -> tuple[dict[str, list[str]], dict[str, list[str]] | None]:
    """(train tree, test tree or None for a single tree), each {class name: sorted image files}."""
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist; expected {_EXPECTED}")
    top = {d.name for d in _subdirs(root)}
    if not top:
        raise DataError(f"image folder {root} holds no folders; expected {_EXPECTED}")
    if {"train", "test"} <= top:
        train, test = _split_tree(root / "train"), _split_tree(root / "test")
        if set(train) != set(test):
            only_tr, only_te = sorted(set(train) - set(test)), sorted(set(test) - set(train))
            raise DataError(f"{root}: train/ and test/ must have the same class folders; only in train: "
                            f"{', '.join(only_tr) or '-'}; only in test: {', '.join(only_te) or '-'}")
        return train, test
    if top & {"train", "test"}:  # half a split layout: reading it as classes "train"/"val" would be silent nonsense
        have, lack = ("train", "test") if "train" in top else ("test", "train")
        raise DataError(f"image folder {root} has {have}/ but no {lack}/; give both, or a single <class>/ tree")
    return _split_tree(root), None


def _flatten(tree: dict[str, list[str]], classes: list[str]) -> tuple[list[str], np.ndarray]:
    files = [f for c in classes for f in tree[c]]
    labels = np.concatenate([np.full(len(tree[c]), i, dtype=np.int64) for i, c in enumerate(classes)])
    return files, labels


def _fingerprint(root: Path, files: list[str]) -> str:
    prefix = len(os.path.join(str(root), ""))
    entries = []
    for f in files:
        st = os.stat(f)
        entries.append((f[prefix:].replace(os.sep, "/"), st.st_size, st.st_mtime_ns))
    return digest(entries)


def _decoded(root: Path, files: list[str], cache: Path) -> np.ndarray:
    """The (N, C, H, W) pixels of `files`, from the cache when nothing changed, else decoded and cached."""
    path = cache / "imagefolder" / f"{root.name}-{_fingerprint(root, files)}.npy"
    try:
        x = np.load(path, allow_pickle=False)
        if x.dtype == np.uint8 and x.ndim == 4 and len(x) == len(files):
            return x
    except (OSError, ValueError):  # absent, or unreadable (not written by us: writes are atomic): decode afresh
        pass
    x = _decode.decode(files)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:  # a file object, so numpy does not append ".npy" to the temp name
            np.save(f, x, allow_pickle=False)
    return x


def _stratified_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices, holding out round(fraction * n_c) of each class c (at least one, and never all,
    of any class with two or more images), chosen by a generator seeded with `seed`."""
    rng = np.random.default_rng(seed)
    test = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        k = min(max(round(fraction * len(idx)), 1), len(idx) - 1)
        test.append(rng.permutation(idx)[:k])
    test_idx = np.sort(np.concatenate(test))
    return np.setdiff1d(np.arange(len(y)), test_idx), test_idx


def load(name: str, root: Path, cache: Path, val_fraction: float = 0.1, seed: int = 0) -> Dataset:
    train_tree, test_tree = _scan(root)
    classes = sorted(train_tree)
    if len(classes) < 2:  # a one-class net cannot be wrong: it would report "test error 0.00%"
        raise DataError(f"image folder {root} has one class folder ({classes[0]}); a classifier needs at least two, "
                        f"one per label: {_EXPECTED}")
    files, y = _flatten(train_tree, classes)
    n_train = len(files)
    if test_tree is not None:
        test_files, test_y = _flatten(test_tree, classes)
        files, y = files + test_files, np.concatenate([y, test_y])
    elif not 0.0 < val_fraction < 1.0:
        raise DataError(f"val_fraction {val_fraction} must lie strictly between 0 and 1 to hold out a test split "
                        f"from {root} (or give it train/ and test/ folders)")
    else:  # split before decoding, so an empty test split is refused before any image is opened
        train_idx, test_idx = _stratified_split(y, val_fraction, seed)
        if len(test_idx) == 0:
            raise DataError(f"image folder {root}: no class has two images, so none can be held out and the test "
                            "split would be empty; add images, or give it train/ and test/ folders")
    x = _decoded(root, files, cache)
    if test_tree is not None:
        train, test = (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])  # views, no copy
        how = "train/ and test/ folders"
    else:
        train, test = (x[train_idx], y[train_idx]), (x[test_idx], y[test_idx])
        how = f"one tree, {val_fraction:g} held out per class (seed {seed})"
    h, w = x.shape[2:]
    # Pad-and-crop by 1/8 of the side (4 px at 32, as for CIFAR); below 16 px a shift loses too much of the image.
    big = min(h, w) >= 16
    return build(name, "image", classes, train, test,
                 augment=("crop", "flip") if big else (), crop_padding=h // 8 if big else 0,
                 source=f"image folder {root} ({how})")
