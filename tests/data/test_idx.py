import gzip

import numpy as np
import pytest

from skiplab.data import load_dataset
from skiplab.errors import DataError

from .conftest import idx_bytes, publish_idx, write_idx


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_round_trip(tmp_path, cache, gz, name, monkeypatch):
    expected = write_idx(tmp_path / "raw", gz=gz)
    publish_idx(monkeypatch, name, expected["paths"].values())  # gzipped files must have the published md5
    ds = load_dataset(name, root=tmp_path / "raw")
    for split in ("train", "test"):
        x, y = expected[split]
        assert np.array_equal(getattr(ds, f"{split}_x").numpy(), x[:, None].astype(np.uint8))
        assert np.array_equal(getattr(ds, f"{split}_y").numpy(), y)
    assert ds.train_x.dtype.itemsize == 1 and ds.info.shape == (1, 28, 28)
    assert (len(ds.train_y), len(ds.test_y)) == (6, 4)
    assert ds.info.augment == ("crop",) and ds.info.crop_padding == 2
    assert ds.info.classes[0] == ("0" if name == "mnist" else "T-shirt/top") and ds.num_classes == 10
    assert ds.info.mean[0] == pytest.approx(expected["train"][0].mean() / 255, abs=1e-5)


def test_missing_files_are_listed(tmp_path, cache):
    with pytest.raises(DataError, match=rf"mnist: {tmp_path / 'none'} does not exist: expected "
                                        r"train-images-idx3-ubyte\[\.gz\].*--download"):
        load_dataset("mnist", root=tmp_path / "none")
    expected = write_idx(tmp_path / "raw")
    expected["paths"]["t10k-labels-idx1-ubyte"].unlink()
    with pytest.raises(DataError, match=r"\(missing: t10k-labels-idx1-ubyte\)"):
        load_dataset("mnist", root=tmp_path / "raw")


def test_wrong_magic(tmp_path, cache):
    expected = write_idx(tmp_path, gz=False)
    bad = expected["paths"]["train-labels-idx1-ubyte"]
    bad.write_bytes(idx_bytes(np.zeros(6), 2051))  # an images magic on a labels file
    with pytest.raises(DataError, match=rf"{bad} has magic number 2051, expected 2049"):
        load_dataset("mnist", root=tmp_path)


def test_size_not_matching_header(tmp_path, cache, monkeypatch):
    expected = write_idx(tmp_path)
    bad = expected["paths"]["t10k-images-idx3-ubyte"]
    raw = gzip.decompress(bad.read_bytes())
    bad.write_bytes(gzip.compress(raw[:-5]))
    publish_idx(monkeypatch, "mnist", expected["paths"].values())  # md5s as published: the IDX checks still run
    with pytest.raises(DataError, match=rf"{bad} is {len(raw) - 5} bytes but its header \(4, 28, 28\) says "
                                        rf"{len(raw)}"):
        load_dataset("mnist", root=tmp_path)


def test_truncated_gzip(tmp_path, cache, monkeypatch):
    expected = write_idx(tmp_path)
    bad = expected["paths"]["train-images-idx3-ubyte"]
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
    publish_idx(monkeypatch, "mnist", expected["paths"].values())  # md5s as published: the gzip check still runs
    with pytest.raises(DataError, match=rf"{bad} is a truncated or corrupt gzip file"):
        load_dataset("mnist", root=tmp_path)


def test_counts_and_labels_checked(tmp_path, cache):
    expected = write_idx(tmp_path, gz=False)
    labels = expected["paths"]["train-labels-idx1-ubyte"]
    labels.write_bytes(idx_bytes(np.zeros(5), 2049))
    with pytest.raises(DataError, match=r"holds 6 images but .*train-labels-idx1-ubyte holds 5 labels"):
        load_dataset("mnist", root=tmp_path)
    labels.write_bytes(idx_bytes(np.array([0, 1, 2, 3, 4, 12]), 2049))
    with pytest.raises(DataError, match=rf"{labels}: label 12 is outside 0\.\.9"):
        load_dataset("mnist", root=tmp_path)
