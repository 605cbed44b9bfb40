"""Fetching the official archives: one table of URLs and published md5s, verified downloads written atomically,
and archive extraction that cannot write outside its root or leave a half-extracted folder behind."""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from pathlib import Path
from typing import NamedTuple

from .._atomic import atomic_path
from ..errors import DataError


class Remote(NamedTuple):
    urls: tuple[str, ...]  # mirrors, tried in order
    md5: str  # as published by the dataset's authors


# Every mirror is https. That keeps a download private and untampered in transit; integrity itself does not rest
# on it: whatever arrives must match the md5 its authors published (below), or it is discarded.
_KRIZ = "https://www.cs.toronto.edu/~kriz/"
# yann.lecun.com refuses most automated requests nowadays; this mirror serves byte-identical files.
_MNIST = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://yann.lecun.com/exdb/mnist/")
# The authors link their S3 *website* endpoint (fashion-mnist.s3-website.eu-central-1...), which serves http only;
# the same bucket's REST endpoint serves the same objects over https. Their repository holds the same four files
# under data/fashion (its README says so): the second mirror.
_FASHION = ("https://fashion-mnist.s3.eu-central-1.amazonaws.com/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/")


def _idx(bases: tuple[str, ...], md5s: tuple[str, str, str, str]) -> dict[str, Remote]:
    names = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
             "t10k-labels-idx1-ubyte.gz")
    return {n: Remote(tuple(b + n for b in bases), m) for n, m in zip(names, md5s)}


# dataset -> {file name in root: where to get it}. The one table to patch (tests point it at a local server).
RESOURCES: dict[str, dict[str, Remote]] = {
    "cifar10": {"cifar-10-python.tar.gz": Remote((_KRIZ + "cifar-10-python.tar.gz",),
                                                 "c58f30108f718f92721af3b95e74349a")},
    "cifar10-binary": {"cifar-10-binary.tar.gz": Remote((_KRIZ + "cifar-10-binary.tar.gz",),
                                                        "c32a1d4ab5d03f1284b67883e8d87530")},
    "cifar100": {"cifar-100-python.tar.gz": Remote((_KRIZ + "cifar-100-python.tar.gz",),
                                                   "eb9058c3a382ffc7106e4002c42a8d85")},
    "cifar100-binary": {"cifar-100-binary.tar.gz": Remote((_KRIZ + "cifar-100-binary.tar.gz",),
                                                          "03b5dce01913d631647c71ecec9e9cb8")},
    "mnist": _idx(_MNIST, ("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
                           "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c")),
    "fashion-mnist": _idx(_FASHION, ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
                                     "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310")),
}

_CHUNK = 1 << 20


def md5_file(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)  # a checksum against corruption, not a security measure
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _stream(url: str, dest: Path) -> str:
    """Copy `url` into `dest`, returning the md5 of what arrived."""
    h = hashlib.md5(usedforsecurity=False)
    with urllib.request.urlopen(url, timeout=60) as response, open(dest, "wb") as out:
        for block in iter(lambda: response.read(_CHUNK), b""):
            h.update(block)
            out.write(block)
    return h.hexdigest()


def verify(path: Path, remote: Remote) -> None:
    """Refuse `path`, an existing copy of `remote`'s file, unless its md5 is the published one: a file found in a
    data root is trusted no more than a downloaded one (it may be truncated, corrupted, or another dataset's file
    of the same name -- MNIST and Fashion-MNIST share all four)."""
    try:
        got = md5_file(path)
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from None
    if got != remote.md5:
        raise DataError(f"{path} has md5 {got}, not the published {remote.md5}: it is truncated, corrupted or "
                        "another dataset's file; delete it and it will be fetched again with --download "
                        "(download=True)")


def fetch(remote: Remote, dest: Path) -> Path:
    """`dest`, downloaded and verified unless a file with the published md5 is already there.

    The bytes land in a temporary file beside `dest` and replace it only once verified, so a failed or corrupted
    download leaves nothing (and an interrupted one never looks complete).
    """
    if dest.is_file() and md5_file(dest) == remote.md5:
        return dest
    failures = []
    for url in remote.urls:
        try:
            with atomic_path(dest) as tmp:
                got = _stream(url, tmp)
                if got != remote.md5:
                    raise DataError(f"{dest} downloaded from {url} has md5 {got}, expected {remote.md5}; "
                                    "discarded it (a corrupted transfer or a changed file upstream)")
            return dest
        except urllib.error.HTTPError as e:
            failures.append(f"{url}: HTTP {e.code} {e.reason}")
        except (urllib.error.URLError, http.client.HTTPException, OSError) as e:  # timeouts are OSErrors
            failures.append(f"{url}: {getattr(e, 'reason', None) or e}")
    raise DataError(f"could not download {dest.name} into {dest.parent}: {'; '.join(failures)}")


def fetch_all(name: str, root: Path) -> list[Path]:
    """Every file of `RESOURCES[name]` into `root`, verified."""
    root.mkdir(parents=True, exist_ok=True)
    return [fetch(remote, root / fname) for fname, remote in RESOURCES[name].items()]


def _check_member(member: tarfile.TarInfo, archive: Path) -> None:
    parts = Path(member.name).parts
    if member.name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
        raise DataError(f"{archive}: member {member.name!r} would land outside the extraction root; refusing it")
    if not (member.isfile() or member.isdir()):
        raise DataError(f"{archive}: member {member.name!r} is a link or device; dataset archives hold only "
                        "files and folders")


def extract(archive: Path, folder: str) -> Path:
    """Extract `archive` beside itself so that `<its dir>/<folder>` appears whole or not at all; return it."""
    root = archive.parent
    target = root / folder
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder}.", suffix=".extract", dir=root))
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()  # reads the whole stream, so a truncated archive fails before any write
            for member in members:
                _check_member(member, archive)
            # The "data" filter (Python >= 3.11.4) re-checks paths and drops permission bits; older ones rely on
            # _check_member alone.
            kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(tmp, members=members, **kwargs)
        if not (tmp / folder).is_dir():
            raise DataError(f"{archive} holds no folder {folder}/; is it the official archive?")
        if not target.exists():  # another process may have finished the same extraction meanwhile
            os.replace(tmp / folder, target)
        return target
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        raise DataError(f"{archive} is truncated or corrupt ({type(e).__name__}: {e}); delete it and fetch it "
                        "again") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
