"""CIFAR-10 and CIFAR-100 (Krizhevsky 2009) from the official python or binary releases, archived or extracted.

Python batches go through the restricted unpickler (`safe_pickle`); binary batches are fixed-size records:
CIFAR-10 `<label><3072 pixels>`, CIFAR-100 `<coarse><fine><3072 pixels>`; pixels are 1024 red, 1024 green,
1024 blue, each a 32x32 row-major plane, so a record reshapes straight to (3, 32, 32).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..errors import DataError
from . import download as dl
from ._common import build, check_labels, missing_files
from .dataset import Dataset
from .safe_pickle import MAX_BYTES, loads_plain, too_big

PIXELS = 3 * 32 * 32


class _Layout(NamedTuple):
    format: str  # "python" or "binary"
    folder: str  # what the archive extracts to
    archive: str
    train: tuple[str, ...]
    test: str
    meta: str


_LAYOUTS: dict[str, tuple[_Layout, ...]] = {
    "cifar10": (
        _Layout("python", "cifar-10-batches-py", "cifar-10-python.tar.gz",
                tuple(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta"),
        _Layout("binary", "cifar-10-batches-bin", "cifar-10-binary.tar.gz",
                tuple(f"data_batch_{i}.bin" for i in range(1, 6)), "test_batch.bin", "batches.meta.txt"),
    ),
    "cifar100": (
        _Layout("python", "cifar-100-python", "cifar-100-python.tar.gz", ("train",), "test", "meta"),
        _Layout("binary", "cifar-100-binary", "cifar-100-binary.tar.gz", ("train.bin",), "test.bin",
                "fine_label_names.txt"),
    ),
}
_NUM_CLASSES = {"cifar10": 10, "cifar100": 100}


def _get(batch: dict, key: str, path: Path) -> Any:
    # The official (python 2) pickles have bytes keys; a re-pickled copy may have str keys.
    for k in (key.encode(), key):
        if k in batch:
            return batch[k]
    raise DataError(f"{path} has no {key!r} entry; keys present: {sorted(str(k) for k in batch)}")


def _read_bytes(path: Path) -> bytes:
    """The bytes of one release file, refused unread when larger than any official one could be (MAX_BYTES
    holds for python and binary batches alike: CIFAR-100's train.bin, the largest of those, is 153.7 MB)."""
    if not path.is_file():
        raise DataError(f"{path} is missing; the {path.parent.name}/ folder of the official release holds it")
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            data = f.read(MAX_BYTES + 1) if size <= MAX_BYTES else b""  # read(limit + 1): it may grow meanwhile
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from None
    if size > MAX_BYTES or len(data) > MAX_BYTES:
        raise DataError(f"{path} {too_big(max(size, len(data)), MAX_BYTES)}; refusing to read it")
    return data


def _python_batch(path: Path, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    batch = loads_plain(_read_bytes(path), str(path))
    if not isinstance(batch, dict):
        raise DataError(f"{path} holds a {type(batch).__name__}, expected a dict with 'data' and labels")
    data, labels = _get(batch, "data", path), _get(batch, label_key, path)
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2 and data.shape[1] == PIXELS):
        shape = getattr(data, "shape", type(data).__name__)
        raise DataError(f"{path}: 'data' is {shape}, expected a uint8 array of N x {PIXELS} pixels")
    try:
        y = np.asarray(labels, dtype=np.int64).reshape(-1)
    except (TypeError, ValueError):
        raise DataError(f"{path}: {label_key!r} is not a list of integer labels") from None
    if len(y) != len(data):
        raise DataError(f"{path}: {len(data)} images but {len(y)} labels")
    return data, y


def _binary_batch(path: Path, coarse: bool) -> tuple[np.ndarray, np.ndarray]:
    raw = _read_bytes(path)
    record = PIXELS + (2 if coarse else 1)
    if len(raw) == 0 or len(raw) % record:
        raise DataError(f"{path} is {len(raw)} bytes, not a whole number of {record}-byte records")
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(-1, record)
    return rows[:, -PIXELS:], rows[:, record - PIXELS - 1].astype(np.int64)  # the fine label sits last


def _class_names(name: str, layout: _Layout, folder: Path) -> list[str]:
    path = folder / layout.meta
    if layout.format == "binary":
        text = _read_bytes(path).decode("utf-8", "replace")
        names = [line.strip() for line in text.splitlines() if line.strip()]
    else:
        meta = loads_plain(_read_bytes(path), str(path))
        if not isinstance(meta, dict):
            raise DataError(f"{path} holds a {type(meta).__name__}, expected a dict of label names")
        raw = _get(meta, "label_names" if name == "cifar10" else "fine_label_names", path)
        names = [n.decode("utf-8", "replace") if isinstance(n, bytes) else str(n) for n in raw]
    if len(names) != _NUM_CLASSES[name]:
        raise DataError(f"{path} names {len(names)} classes, {name} has {_NUM_CLASSES[name]}")
    return names


def _locate(name: str, root: Path, download: bool) -> tuple[_Layout, Path]:
    layouts = _LAYOUTS[name]
    for layout in layouts:
        for folder in (root / layout.folder, root):
            if folder.name == layout.folder and folder.is_dir():
                return layout, folder
    if download:  # the python release is the canonical one; fetch() skips a verified copy already there
        dl.fetch_all(name, root)
    for layout in layouts:
        if (root / layout.archive).is_file():
            return layout, dl.extract(root / layout.archive, layout.folder)
    expected = " or ".join(f"{lay.archive} (or its folder {lay.folder}/)" for lay in layouts)
    raise missing_files(name, root, expected, downloadable=True)


def load(name: str, root: Path, download: bool = False) -> Dataset:
    """`name` is "cifar10" or "cifar100" (fine labels); `root` holds an official archive or its folder."""
    layout, folder = _locate(name, root, download)
    classes = _class_names(name, layout, folder)
    splits = []
    for files in (layout.train, (layout.test,)):
        parts = []
        for fname in files:
            path = folder / fname
            if layout.format == "python":
                x, y = _python_batch(path, "labels" if name == "cifar10" else "fine_labels")
            else:
                x, y = _binary_batch(path, coarse=name == "cifar100")
            check_labels(y, len(classes), str(path))
            parts.append((x, y))
        x = np.concatenate([p[0] for p in parts]).reshape(-1, 3, 32, 32)
        splits.append((x, np.concatenate([p[1] for p in parts])))
    return build(name, "image", classes, splits[0], splits[1], augment=("crop", "flip"), crop_padding=4,
                 source=f"{name} ({layout.format} batches) from {folder}")
