"""Fixtures that write small files in the official formats (CIFAR python/binary batches, IDX, image folders) and
serve them over loopback HTTP, so the real loading code runs on them."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import shutil
import struct
import tarfile
import threading
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


class Global:
    """A `module.name(*args)` call inside a hand-written pickle (what a hostile batch would contain)."""

    def __init__(self, module: str, name: str, args: tuple = ()) -> None:
        self.module, self.name, self.args = module, name, args


def py2_pickle(obj) -> bytes:
    """`obj` as Python 2's cPickle (protocol 2) wrote the official CIFAR batches: str/bytes as BINSTRING, numpy
    arrays via numpy.core.multiarray._reconstruct + BUILD. Python 3's pickle cannot write this (it emits
    `_codecs.encode` calls for bytes), hence the hand-written emitter."""
    out = bytearray(b"\x80\x02")

    def emit(o) -> None:
        if o is True or o is False:
            out.extend(b"\x88" if o else b"\x89")
        elif o is None:
            out.extend(b"N")
        elif isinstance(o, int):
            if 0 <= o < 256:
                out.extend(b"K" + bytes([o]))
            elif 0 <= o < 65536:
                out.extend(b"M" + o.to_bytes(2, "little"))
            else:
                out.extend(b"J" + o.to_bytes(4, "little", signed=True))
        elif isinstance(o, float):
            out.extend(b"G" + struct.pack(">d", o))
        elif isinstance(o, str):
            emit(o.encode())
        elif isinstance(o, bytes):
            if len(o) < 256:
                out.extend(b"U" + bytes([len(o)]) + o)
            else:
                out.extend(b"T" + len(o).to_bytes(4, "little") + o)
        elif isinstance(o, (list, tuple, dict)):
            out.extend({list: b"]", tuple: b"", dict: b"}"}[type(o)])
            if o or isinstance(o, tuple):
                out.extend(b"(")
                for item in (o.items() if isinstance(o, dict) else o):
                    for part in (item if isinstance(o, dict) else (item,)):
                        emit(part)
                out.extend({list: b"e", tuple: b"t", dict: b"u"}[type(o)])
        elif isinstance(o, np.ndarray):
            out.extend(b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n")
            emit((0,))
            emit(b"b")
            out.extend(b"\x87R(")  # TUPLE3, REDUCE, then the state tuple
            emit(1)
            emit(tuple(o.shape))
            out.extend(b"cnumpy\ndtype\n")
            emit((o.dtype.str[1:], 0, 1))
            out.extend(b"R")
            emit((3, o.dtype.str[:1], None, None, None, -1, -1, 0))
            out.extend(b"b")
            emit(False)
            emit(np.ascontiguousarray(o).tobytes())
            out.extend(b"tb")  # TUPLE, BUILD
        elif isinstance(o, Global):
            out.extend(f"c{o.module}\n{o.name}\n".encode())
            emit(tuple(o.args))
            out.extend(b"R")
        else:
            raise TypeError(type(o))

    emit(obj)
    out.extend(b".")
    return bytes(out)


CIFAR = {  # name -> python folder, binary folder, python archive, binary archive
    "cifar10": ("cifar-10-batches-py", "cifar-10-batches-bin", "cifar-10-python.tar.gz", "cifar-10-binary.tar.gz"),
    "cifar100": ("cifar-100-python", "cifar-100-binary", "cifar-100-python.tar.gz", "cifar-100-binary.tar.gz"),
}


def make_tar_gz(archive: Path, folder: Path) -> Path:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    return archive


def write_cifar(root: Path, name: str = "cifar10", fmt: str = "python", per_batch: int = 3, n_test: int = 4,
                archive: bool = False, seed: int = 0) -> dict:
    """A tiny official-layout CIFAR release in `root`; returns what a correct loader must give back."""
    rng = np.random.default_rng(seed)
    n_cls = 10 if name == "cifar10" else 100
    classes = [f"class{i:02d}" for i in range(n_cls)]
    n_train_files = 5 if name == "cifar10" else 1
    py_dir, bin_dir, py_arc, bin_arc = CIFAR[name]
    folder = root / (py_dir if fmt == "python" else bin_dir)
    folder.mkdir(parents=True)
    splits = {}
    for split, files, n in (("train", range(n_train_files), per_batch), ("test", [None], n_test)):
        xs, ys = [], []
        for i in files:
            x = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
            fine = rng.integers(0, n_cls, size=n)
            coarse = rng.integers(0, 20, size=n)
            xs.append(x), ys.append(fine)
            if fmt == "python":
                fname = (f"data_batch_{i + 1}" if split == "train" else "test_batch") if name == "cifar10" else split
                batch = {b"batch_label": f"{split} batch".encode(), b"data": x,
                         b"filenames": [f"img{j}.png".encode() for j in range(n)]}
                if name == "cifar10":
                    batch[b"labels"] = [int(v) for v in fine]
                else:
                    batch[b"fine_labels"] = [int(v) for v in fine]
                    batch[b"coarse_labels"] = [int(v) for v in coarse]
                (folder / fname).write_bytes(py2_pickle(batch))
            else:
                fname = (f"data_batch_{i + 1}.bin" if split == "train" else "test_batch.bin") \
                    if name == "cifar10" else f"{split}.bin"
                labels = [fine[:, None]] if name == "cifar10" else [coarse[:, None], fine[:, None]]
                (folder / fname).write_bytes(np.concatenate(labels + [x], axis=1).astype(np.uint8).tobytes())
        splits[split] = (np.concatenate(xs).reshape(-1, 3, 32, 32), np.concatenate(ys))
    if fmt == "python" and name == "cifar10":
        meta = {b"label_names": [c.encode() for c in classes], b"num_cases_per_batch": per_batch, b"num_vis": 3072}
        (folder / "batches.meta").write_bytes(py2_pickle(meta))
    elif fmt == "python":
        meta = {b"fine_label_names": [c.encode() for c in classes],
                b"coarse_label_names": [f"super{i}".encode() for i in range(20)]}
        (folder / "meta").write_bytes(py2_pickle(meta))
    else:
        names = "batches.meta.txt" if name == "cifar10" else "fine_label_names.txt"
        (folder / names).write_text("\n".join(classes) + "\n\n")  # the official file ends in blank lines
    out = {"train": splits["train"], "test": splits["test"], "classes": tuple(classes), "folder": folder}
    if archive:
        out["archive"] = make_tar_gz(root / (py_arc if fmt == "python" else bin_arc), folder)
        shutil.rmtree(folder)
    return out


def idx_bytes(arr: np.ndarray, magic: int) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in arr.shape)
    return header + arr.astype(np.uint8).tobytes()


IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
             "t10k-labels-idx1-ubyte")


def write_idx(root: Path, n_train: int = 6, n_test: int = 4, gz: bool = True, seed: int = 0) -> dict:
    """The four MNIST-layout IDX files in `root` (gzipped unless gz=False); returns the arrays written."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    data = {"train": (rng.integers(0, 256, (n_train, 28, 28)), rng.integers(0, 10, n_train)),
            "test": (rng.integers(0, 256, (n_test, 28, 28)), rng.integers(0, 10, n_test))}
    paths = {}
    for (img, lab), (x, y) in zip((IDX_FILES[:2], IDX_FILES[2:]), data.values()):
        for stem, arr, magic in ((img, x, 2051), (lab, y, 2049)):
            raw = idx_bytes(arr, magic)
            path = root / (stem + ".gz" if gz else stem)
            path.write_bytes(gzip.compress(raw) if gz else raw)
            paths[stem] = path
    return {"train": data["train"], "test": data["test"], "paths": paths}


def publish_idx(monkeypatch, name: str, paths) -> None:
    """Make the gzipped fixture files in `paths` the "published" ones of `name` (their md5s in RESOURCES): the
    loader refuses an official file name whose md5 is not the published one."""
    from skiplab.data import download
    table = {f"{p.name}": download.Remote(("http://127.0.0.1:9/unused/",), md5(p)) for p in paths
             if p.suffix == ".gz"}
    monkeypatch.setitem(download.RESOURCES, name, {**download.RESOURCES[name], **table})


def write_images(folder: Path, n: int, size=(32, 32), fmt: str = "png", mode: str = "RGB", seed: int = 0) -> list:
    """`n` random images in `folder`; returns the pixel arrays as PIL decodes the written files (CHW)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    out = []
    for i in range(n):
        path = folder / f"img{i:03d}.{fmt}"
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(path)
        with Image.open(path) as im:  # the known answer is what the file holds (JPEG is lossy)
            arr = np.asarray(im)
        out.append(arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1))
    return out


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def http_dir(tmp_path):
    """(served folder, base URL, list of requested paths): a loopback HTTP server stopped after the test."""
    served = tmp_path / "served"
    served.mkdir()
    requests: list[str] = []

    class Handler(_QuietHandler):
        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield served, f"http://127.0.0.1:{server.server_address[1]}/", requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A private cache dir, also set as $SKIPLAB_CACHE so nothing touches ~/.cache."""
    path = tmp_path / "cache"
    monkeypatch.setenv("SKIPLAB_CACHE", str(path))
    return path
