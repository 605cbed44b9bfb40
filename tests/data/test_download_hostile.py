"""Downloads over https only, and IDX files found in a data root checked against the published md5 before use:
a tampered, truncated or swapped file is refused in one line that names it, both md5s and the way out."""

import gzip
from urllib.parse import urlparse

import numpy as np
import pytest

from skiplab.data import download, load_dataset
from skiplab.errors import DataError

from .conftest import IDX_FILES, md5, publish_idx, write_idx


def test_every_mirror_is_https():
    urls = [url for files in download.RESOURCES.values() for r in files.values() for url in r.urls]
    assert len(urls) == 4 + 8 + 8  # CIFAR: 4 archives x 1 mirror; MNIST, Fashion-MNIST: 4 files x 2 mirrors
    assert {urlparse(u).scheme for u in urls} == {"https"}
    # the S3 *website* endpoint serves http only; the bucket's REST endpoint is the https form
    assert not any("s3-website" in u for u in urls)
    fashion = download.RESOURCES["fashion-mnist"]["t10k-labels-idx1-ubyte.gz"]
    assert fashion.urls[0] == "https://fashion-mnist.s3.eu-central-1.amazonaws.com/t10k-labels-idx1-ubyte.gz"
    assert fashion.md5 == "bb300cfdad3c16e7a12a480ee83cd310"  # the authors' table: https changed no checksum


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_a_damaged_local_file_is_refused_with_both_md5s(tmp_path, cache, monkeypatch, damage):
    expected = write_idx(tmp_path)
    publish_idx(monkeypatch, "mnist", expected["paths"].values())
    bad = expected["paths"]["train-labels-idx1-ubyte"]
    published = md5(bad)
    raw = bad.read_bytes()
    # one flipped byte in the gzip trailer, or the last 8 bytes gone
    bad.write_bytes(raw[:-1] + bytes([raw[-1] ^ 1]) if damage == "flip" else raw[:-8])
    with pytest.raises(DataError) as err:
        load_dataset("mnist", root=tmp_path)
    assert str(err.value) == (f"{bad} has md5 {md5(bad)}, not the published {published}: it is truncated, "
                              "corrupted or another dataset's file; delete it and it will be fetched again with "
                              "--download (download=True)")
    assert bad.read_bytes() != raw and bad.exists()  # the user's file is named, not deleted behind their back


def test_the_other_datasets_file_of_the_same_name_is_refused(tmp_path, cache, monkeypatch):
    # MNIST and Fashion-MNIST share all four file names, and both are valid IDX: only the md5 tells them apart
    mnist = write_idx(tmp_path / "served", seed=1)
    publish_idx(monkeypatch, "fashion-mnist", mnist["paths"].values())
    other = write_idx(tmp_path / "root", seed=2)
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz has md5 [0-9a-f]{32}, not the published"):
        load_dataset("fashion-mnist", root=tmp_path / "root")
    assert other["paths"]["train-images-idx3-ubyte"].exists()


def test_with_download_a_stale_local_file_is_fetched_again(tmp_path, cache, http_dir, monkeypatch):
    served, base, requests = http_dir
    expected = write_idx(served)
    table = {f"{stem}.gz": download.Remote((base + stem + ".gz",), md5(path))
             for stem, path in expected["paths"].items()}
    monkeypatch.setitem(download.RESOURCES, "mnist", table)
    root = tmp_path / "root"
    write_idx(root, seed=9)  # all four present, none the published file: before, they were read as they were
    ds = load_dataset("mnist", root=root, download=True)
    assert sorted(requests) == sorted(f"/{s}.gz" for s in IDX_FILES)
    assert np.array_equal(ds.train_x.numpy()[:, 0], expected["train"][0])
    assert np.array_equal(ds.test_y.numpy(), expected["test"][1])
    # one of them damaged again: only that one is fetched
    (root / "t10k-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b garbage")
    again = load_dataset("mnist", root=root, download=True)
    assert requests[4:] == ["/t10k-images-idx3-ubyte.gz"]
    assert np.array_equal(again.test_x.numpy()[:, 0], expected["test"][0])


def test_a_decompressed_file_has_no_published_md5_and_the_gzipped_one_wins(tmp_path, cache, monkeypatch):
    expected = write_idx(tmp_path)
    publish_idx(monkeypatch, "mnist", expected["paths"].values())
    # beside each verified .gz a decompressed copy with other pixels: the verified .gz is what is read
    for stem, path in expected["paths"].items():
        raw = bytearray(gzip.decompress(path.read_bytes()))
        if "images" in stem:
            raw[-1] ^= 0xFF
        (tmp_path / stem).write_bytes(bytes(raw))
    ds = load_dataset("mnist", root=tmp_path)
    assert np.array_equal(ds.train_x.numpy()[:, 0], expected["train"][0])
    # decompressed alone: read after the header and size checks (no published checksum to compare with)
    for path in expected["paths"].values():
        path.unlink()
    ds = load_dataset("mnist", root=tmp_path)
    assert ds.train_x.numpy()[-1, 0, -1, -1] == expected["train"][0][-1, -1, -1] ^ 0xFF
