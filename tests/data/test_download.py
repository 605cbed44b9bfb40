"""download=True against a loopback HTTP server serving fixture archives (the URL + md5 table patched to it)."""

import numpy as np
import pytest

from skiplab.data import download, load_dataset
from skiplab.errors import DataError

from .conftest import IDX_FILES, md5, write_cifar, write_idx


def _serve_cifar(served, base, monkeypatch, md5sum=None):
    expected = write_cifar(served, archive=True)
    arc = expected["archive"]
    remote = download.Remote((base + arc.name,), md5sum or md5(arc))
    monkeypatch.setitem(download.RESOURCES, "cifar10", {arc.name: remote})
    return expected


def test_cifar_download_then_no_refetch(tmp_path, cache, http_dir, monkeypatch):
    served, base, requests = http_dir
    expected = _serve_cifar(served, base, monkeypatch)
    root = tmp_path / "data"
    ds = load_dataset("cifar10", root=root, download=True)
    assert requests == ["/cifar-10-python.tar.gz"]
    assert np.array_equal(ds.train_x.numpy(), expected["train"][0])
    assert np.array_equal(ds.test_y.numpy(), expected["test"][1])
    assert md5(root / "cifar-10-python.tar.gz") == md5(expected["archive"])
    assert sorted(p.name for p in root.iterdir()) == ["cifar-10-batches-py", "cifar-10-python.tar.gz"]
    # the extracted folder is there: nothing fetched
    load_dataset("cifar10", root=root, download=True)
    # only the verified archive is there: it is re-extracted, not fetched
    import shutil
    shutil.rmtree(root / "cifar-10-batches-py")
    again = load_dataset("cifar10", root=root, download=True)
    assert requests == ["/cifar-10-python.tar.gz"]
    assert np.array_equal(again.train_x.numpy(), expected["train"][0])


def test_checksum_mismatch_leaves_nothing(tmp_path, cache, http_dir, monkeypatch):
    served, base, requests = http_dir
    expected = _serve_cifar(served, base, monkeypatch, md5sum="0" * 32)
    root = tmp_path / "data"
    with pytest.raises(DataError, match=rf"{root / 'cifar-10-python.tar.gz'} downloaded from {base}"
                                        rf"cifar-10-python\.tar\.gz has md5 {md5(expected['archive'])}, "
                                        rf"expected {'0' * 32}"):
        load_dataset("cifar10", root=root, download=True)
    assert requests == ["/cifar-10-python.tar.gz"]
    assert list(root.iterdir()) == []  # neither the archive nor a temporary file


def test_unreachable_url_leaves_nothing(tmp_path, cache, http_dir, monkeypatch):
    served, base, _ = http_dir
    monkeypatch.setitem(download.RESOURCES, "cifar10",
                        {"cifar-10-python.tar.gz": download.Remote((base + "missing.tar.gz",), "0" * 32)})
    with pytest.raises(DataError, match=rf"could not download cifar-10-python\.tar\.gz into {tmp_path / 'd'}: "
                                        rf"{base}missing\.tar\.gz: HTTP 404 "):
        load_dataset("cifar10", root=tmp_path / "d", download=True)
    assert list((tmp_path / "d").iterdir()) == []
    # nothing listening at all (port 9 on loopback: discard, normally closed)
    monkeypatch.setitem(download.RESOURCES, "cifar10",
                        {"cifar-10-python.tar.gz": download.Remote(("http://127.0.0.1:9/x.tar.gz",), "0" * 32)})
    with pytest.raises(DataError, match=r"could not download cifar-10-python\.tar\.gz .*127\.0\.0\.1:9/x\.tar\.gz"):
        load_dataset("cifar10", root=tmp_path / "d", download=True)
    assert list((tmp_path / "d").iterdir()) == []


def test_mirror_fallback_and_stale_file_replaced(tmp_path, cache, http_dir, monkeypatch):
    served, base, requests = http_dir
    expected = write_idx(served, gz=True)
    table = {f"{stem}.gz": download.Remote((base + "dead/" + stem, base + stem + ".gz"), md5(path))
             for stem, path in expected["paths"].items()}
    monkeypatch.setitem(download.RESOURCES, "mnist", table)
    root = tmp_path / "mnist"
    root.mkdir()
    (root / "t10k-labels-idx1-ubyte.gz").write_bytes(b"stale")  # present but not verified: fetched again
    ds = load_dataset("mnist", root=root, download=True)
    assert np.array_equal(ds.test_y.numpy(), expected["test"][1])
    assert np.array_equal(ds.train_x.numpy()[:, 0], expected["train"][0])
    assert len(requests) == 8  # each file: the dead mirror, then the live one
    assert sorted(p.name for p in root.iterdir()) == sorted(f"{s}.gz" for s in IDX_FILES)
    load_dataset("mnist", root=root, download=True)  # all present: no request
    assert len(requests) == 8


def test_download_refused_where_it_does_not_apply(cache):
    with pytest.raises(DataError, match="digits cannot be downloaded"):
        load_dataset("digits", download=True)


def test_table_holds_the_published_checksums():
    assert download.RESOURCES["cifar10"]["cifar-10-python.tar.gz"].md5 == "c58f30108f718f92721af3b95e74349a"
    assert download.RESOURCES["cifar100-binary"]["cifar-100-binary.tar.gz"].md5 == "03b5dce01913d631647c71ecec9e9cb8"
    assert download.RESOURCES["mnist"]["train-images-idx3-ubyte.gz"].md5 == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    assert all(r.urls and len(r.md5) == 32 for files in download.RESOURCES.values() for r in files.values())
