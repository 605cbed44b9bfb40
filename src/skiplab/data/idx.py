"""MNIST (LeCun et al. 1998) and Fashion-MNIST (Xiao et al. 2017) from their IDX files, gzipped or raw.

IDX: a big-endian header -- magic (2051 for 3-d unsigned-byte images, 2049 for 1-d unsigned-byte labels), then one
int32 per dimension -- followed by the bytes themselves; the file size must match the header exactly.

A gzipped file, the form the authors publish, is used only when its md5 is the published one, whether it was just
fetched or found in the root. A decompressed file has no published checksum, so only its header and size are
checked; when both forms are there the gzipped one is read.
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError
from . import download as dl
from ._common import build, check_labels, missing_files
from .dataset import Dataset

IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049
_SPLITS = (("train", "train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
           ("test", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"))
_CLASSES = {
    "mnist": tuple(str(d) for d in range(10)),
    "fashion-mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                      "Ankle boot"),
}


def _find(root: Path, stem: str) -> Path | None:
    for path in (root / f"{stem}.gz", root / stem):
        if path.is_file():
            return path
    return None


def read_idx(path: Path, magic: int) -> np.ndarray:
    """The uint8 array of an IDX file, after checking its magic number and that its size matches the header."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                raw = f.read()
        else:
            raw = path.read_bytes()
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise DataError(f"{path} is a truncated or corrupt gzip file ({e})") from None
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from None
    ndim = magic & 0xFF  # the magic's low byte counts the dimensions, its third byte (0x08) says unsigned byte
    if len(raw) < 4 or int.from_bytes(raw[:4], "big") != magic:
        got = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
        raise DataError(f"{path} has magic number {got}, expected {magic} (an IDX file of {ndim}-d unsigned bytes)")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path} is {len(raw)} bytes, too short for its {header}-byte header")
    dims = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    if len(raw) != header + math.prod(dims):
        raise DataError(f"{path} is {len(raw)} bytes but its header {dims} says {header + math.prod(dims)}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def load(name: str, root: Path, download: bool = False) -> Dataset:
    """`name` is "mnist" or "fashion-mnist"; `root` holds the four official files (`*.gz` or decompressed)."""
    stems = [s for _, img, lab in _SPLITS for s in (img, lab)]
    published = dl.RESOURCES[name]
    verified: set[Path] = set()  # what fetch() has just checked against the published md5
    if download:
        # fetch() keeps a gzipped copy with the published md5 and replaces any other; a stem present only
        # decompressed is left as the user gave it.
        for stem in stems:
            gz = root / f"{stem}.gz"
            if gz.is_file() or _find(root, stem) is None:
                root.mkdir(parents=True, exist_ok=True)
                verified.add(dl.fetch(published[gz.name], gz))
    found = {s: _find(root, s) for s in stems}
    absent = [s for s, p in found.items() if p is None]
    if absent:
        expected = ", ".join(f"{s}[.gz]" for s in stems)
        err = missing_files(name, root, expected, downloadable=True)
        if root.is_dir() and len(absent) < len(stems):
            err = DataError(f"{err} (missing: {', '.join(absent)})")
        raise err
    for path in found.values():
        if path.name in published and path not in verified:  # an official (gzipped) file found, not fetched
            dl.verify(path, published[path.name])
    splits = []
    for _, img_stem, lab_stem in _SPLITS:
        img_path, lab_path = found[img_stem], found[lab_stem]
        x, y = read_idx(img_path, IMAGES_MAGIC), read_idx(lab_path, LABELS_MAGIC).astype(np.int64)
        if len(x) != len(y):
            raise DataError(f"{img_path} holds {len(x)} images but {lab_path} holds {len(y)} labels")
        check_labels(y, len(_CLASSES[name]), str(lab_path))
        splits.append((x[:, None], y))
    # A 2-pixel shift keeps digits whole in the 28x28 frame; no flip, mirrored digits and shoes change meaning.
    return build(name, "image", _CLASSES[name], splits[0], splits[1], augment=("crop",), crop_padding=2,
                 source=f"{name} IDX files in {root}")
