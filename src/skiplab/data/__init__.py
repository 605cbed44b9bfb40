"""Datasets: one call, `load_dataset(name, ...)`, returns train/test tensors plus what a model needs to know.

    >>> ds = load_dataset("digits")
    >>> ds.summary()
    'digits: 1347 train / 450 test, 10 classes, shape (1, 8, 8)'

File-based sources read the official releases from `root` (default: `<cache dir>/<name>`) and fetch them there
with `download=True`. Every bad input raises `DataError` with one line naming the file and what would be valid.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, NamedTuple

from ..config import suggest
from ..errors import DataError
from .cache import cache_dir as _cache_dir
from .dataset import Dataset, DatasetInfo, pixel_range, to_float
from .loader import DeviceLoader

__all__ = ["Dataset", "DatasetInfo", "DeviceLoader", "load_dataset", "list_datasets", "pixel_range", "to_float"]

IMAGEFOLDER = "imagefolder"


class _Request(NamedTuple):
    name: str
    root: Path
    download: bool
    cache: Path
    val_fraction: float
    seed: int


def _digits(r: _Request) -> Dataset:
    from . import digits
    return digits.load()


def _mnist1d(r: _Request) -> Dataset:
    from . import mnist1d
    return mnist1d.load(r.cache)


def _mnist1d_large(r: _Request) -> Dataset:
    from . import mnist1d
    return mnist1d.load(r.cache, large=True)


def _multiscale(r: _Request) -> Dataset:
    from . import multiscale
    return multiscale.load(r.cache)


def _multiscale_visible(r: _Request) -> Dataset:
    from . import multiscale
    return multiscale.load_visible(r.cache)


def _pathfinder(r: _Request) -> Dataset:
    from . import pathfinder
    return pathfinder.load(r.cache)


def _cifar(r: _Request) -> Dataset:
    from . import cifar
    return cifar.load(r.name, r.root, r.download)


def _idx(r: _Request) -> Dataset:
    from . import idx
    return idx.load(r.name, r.root, r.download)


def _imagefolder(r: _Request) -> Dataset:
    from . import imagefolder
    return imagefolder.load(r.name, r.root, r.cache, r.val_fraction, r.seed)


# name -> (loader, one-line description). Sources import lazily, so listing them needs neither PIL nor sklearn.
_SOURCES: dict[str, tuple[Callable[[_Request], Dataset], str]] = {
    "digits": (_digits, "scikit-learn's embedded 8x8 handwritten digits, 1347/450, no files needed"),
    "mnist1d": (_mnist1d, "MNIST-1D, 4000/1000 length-40 signals, generated offline and cached"),
    "mnist1d-10k": (_mnist1d_large, "MNIST-1D's generator asked for 4000/10000 (a test split for 1-point margins)"),
    "multiscale": (_multiscale, "6 shapes at scales varying 4x, 32x32, 3000/1000, generated and cached"),
    "multiscale-visible": (_multiscale_visible, "6 shapes at radii 4-12 px (2 px at a 16 px input), 3000/1000"),
    "pathfinder": (_pathfinder, "are two markers joined by one curve (Pathfinder-like), 32x32, 4000/1000, generated"),
    "mnist": (_idx, "MNIST 28x28 digits, 60000/10000, IDX files in root (download=True fetches them)"),
    "fashion-mnist": (_idx, "Fashion-MNIST 28x28 clothing, 60000/10000, IDX files in root (download=True)"),
    "cifar10": (_cifar, "CIFAR-10 32x32 colour, 50000/10000, official python/binary release in root"),
    "cifar100": (_cifar, "CIFAR-100 32x32 colour, 100 fine classes, official python/binary release in root"),
    f"{IMAGEFOLDER}:<path>": (_imagefolder, "your own images: <path>/train|test/<class>/*.png|jpg, or <class>/*"),
}
_DOWNLOADABLE = ("mnist", "fashion-mnist", "cifar10", "cifar100")


def list_datasets() -> dict[str, str]:
    """{name: one-line description} of every dataset `load_dataset` knows."""
    return {name: desc for name, (_, desc) in _SOURCES.items()}


def load_dataset(name: str, root: str | os.PathLike | None = None, download: bool = False,
                 cache_dir: str | os.PathLike | None = None, val_fraction: float = 0.1, seed: int = 0) -> Dataset:
    """Load dataset `name` (see `list_datasets()`).

    root:         where a file-based dataset lives (default `<cache_dir>/<name>`); for "imagefolder" the folder,
                  which may instead be given in the name, "imagefolder:<path>".
    download:     fetch the official files into `root` (mnist, fashion-mnist, cifar10, cifar100), verified
                  against their published md5; a verified copy already there is not fetched again.
    cache_dir:    derived data (generated mnist1d, decoded image folders); default $SKIPLAB_CACHE or
                  ~/.cache/skiplab.
    val_fraction, seed: the stratified hold-out of an image folder without train/ and test/ folders.
    """
    cache = _cache_dir(cache_dir)
    key = name
    if name == IMAGEFOLDER or name.startswith(IMAGEFOLDER + ":"):
        path = name[len(IMAGEFOLDER) + 1:]
        if path and root is not None and Path(path).expanduser() != Path(root).expanduser():
            raise DataError(f"{name!r} and root={str(root)!r} name two folders; give the folder once")
        path = path or (str(root) if root is not None else "")
        if not path:
            raise DataError(f"{IMAGEFOLDER} needs a folder: name it as '{IMAGEFOLDER}:<path>' or pass root=<path>")
        key, name, root = f"{IMAGEFOLDER}:<path>", f"{IMAGEFOLDER}:{path}", path
    if key not in _SOURCES:
        raise DataError(f"unknown dataset {name!r}{suggest(name, list(_SOURCES))}; valid: "
                        f"{', '.join(_SOURCES)}")
    if download and key not in _DOWNLOADABLE:
        raise DataError(f"{name} cannot be downloaded; download=True applies to {', '.join(_DOWNLOADABLE)}")
    root_path = Path(root).expanduser() if root is not None else cache / name
    loader, _ = _SOURCES[key]
    return loader(_Request(name, root_path, download, cache, val_fraction, seed))
