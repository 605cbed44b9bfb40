"""The built-in sources without files (digits, mnist1d) and the public API around them."""

import random

import numpy as np
import pytest
import torch

from skiplab import data
from skiplab.data import Dataset, DatasetInfo, DeviceLoader, list_datasets, load_dataset, mnist1d, to_float
from skiplab.data.cache import cache_dir
from skiplab.errors import DataError


def test_digits_known_split():
    ds = load_dataset("digits")
    assert isinstance(ds, Dataset) and isinstance(ds.info, DatasetInfo)
    assert (len(ds.train_y), len(ds.test_y)) == (1347, 450)
    assert ds.info.shape == (1, 8, 8) and ds.num_classes == 10 and ds.info.classes[3] == "3"
    assert ds.train_x.dtype == torch.float32 and ds.train_y.dtype == torch.int64
    assert float(ds.train_x.min()) == 0.0 and float(ds.train_x.max()) == 1.0
    assert set((ds.train_x * 16).flatten().tolist()) <= set(range(17))  # exactly value/16
    assert np.bincount(ds.test_y.numpy()).tolist() == [45, 46, 44, 46, 45, 46, 45, 45, 43, 45]  # stratified
    assert ds.info.augment == () and ds.info.kind == "image"
    assert torch.equal(ds.test_x, load_dataset("digits").test_x)  # deterministic
    assert ds.info.mean[0] == pytest.approx(float(ds.train_x.double().mean()), abs=1e-6)


@pytest.fixture(scope="module")
def mnist1d_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("m1d")


def test_mnist1d_generated_and_cached(mnist1d_cache, monkeypatch):
    random.seed(123)
    np.random.seed(123)
    before = (random.random(), np.random.rand())
    random.seed(123)
    np.random.seed(123)
    ds = load_dataset("mnist1d", cache_dir=mnist1d_cache)
    assert (random.random(), np.random.rand()) == before  # the generator's reseeding did not leak out
    assert (len(ds.train_y), len(ds.test_y)) == (4000, 1000)
    assert ds.info.shape == (1, 40) and ds.info.kind == "sequence" and ds.train_x.dtype == torch.float32
    assert ds.num_classes == 10 and np.bincount(ds.train_y.numpy(), minlength=10).min() > 300
    files = list((mnist1d_cache / "mnist1d").iterdir())
    assert len(files) == 1 and files[0].suffix == ".npz"
    with np.load(files[0], allow_pickle=False) as npz:
        assert set(npz.files) == {"train_x", "train_y", "test_x", "test_y"}

    def boom():
        raise AssertionError("generated again")
    monkeypatch.setattr(mnist1d, "_generate", boom)
    again = load_dataset("mnist1d", cache_dir=mnist1d_cache)
    for attr in ("train_x", "train_y", "test_x", "test_y"):
        assert torch.equal(getattr(ds, attr), getattr(again, attr))
    assert again.info == ds.info


def test_mnist1d_10k_is_the_same_generator_with_a_larger_test_split(mnist1d_cache):
    """mnist1d-10k: the default generator asked for 14000 signals, 4000 train / 10000 test, cached apart from mnist1d
    (its own digest), and the default set's cache key unchanged by the new option."""
    big = load_dataset("mnist1d-10k", cache_dir=mnist1d_cache)
    assert (len(big.train_y), len(big.test_y)) == (4000, 10000)
    assert big.info.shape == (1, 40) and big.info.kind == "sequence" and big.num_classes == 10
    assert np.bincount(big.test_y.numpy(), minlength=10).min() > 900  # balanced: 1400 a class before the split
    assert big.info.name == "mnist1d-10k"
    # the signals are normalized over the whole set: mean ~0, std ~1
    x = torch.cat([big.train_x, big.test_x])
    assert abs(float(x.mean())) < 1e-3 and float(x.std()) == pytest.approx(1.0, abs=1e-3)
    assert mnist1d._cache_file(mnist1d_cache, True) != mnist1d._cache_file(mnist1d_cache)
    assert {f.name for f in (mnist1d_cache / "mnist1d").iterdir()} >= {mnist1d._cache_file(mnist1d_cache, True).name}


def test_mnist1d_unreadable_cache_is_regenerated(mnist1d_cache):
    first = load_dataset("mnist1d", cache_dir=mnist1d_cache)
    path = mnist1d._cache_file(mnist1d_cache)  # (mnist1d-10k's file may sit beside it)
    good = path.read_bytes()
    path.write_bytes(good[:100])  # not ours (atomic writes never leave half a file): generated afresh
    again = load_dataset("mnist1d", cache_dir=mnist1d_cache)
    assert torch.equal(first.train_x, again.train_x) and path.read_bytes() == good


def test_list_and_unknown_names():
    names = list_datasets()
    assert {"digits", "mnist1d", "mnist1d-10k", "mnist", "fashion-mnist", "cifar10", "cifar100", "multiscale",
            "pathfinder", "multiscale-visible", "imagefolder:<path>"} == set(names)
    assert all(isinstance(v, str) and v and "\n" not in v for v in names.values())
    with pytest.raises(DataError, match=r"unknown dataset 'cifar-10' \(did you mean 'cifar10'\?\); valid: digits"):
        load_dataset("cifar-10")
    with pytest.raises(DataError, match=r"imagefolder needs a folder"):
        load_dataset("imagefolder")


def test_default_root_and_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SKIPLAB_CACHE", str(tmp_path / "env"))
    assert cache_dir() == tmp_path / "env" and cache_dir(tmp_path / "x") == tmp_path / "x"
    with pytest.raises(DataError, match=rf"{tmp_path / 'env' / 'cifar100'} does not exist"):
        load_dataset("cifar100")
    monkeypatch.delenv("SKIPLAB_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "skiplab"


def test_reexports():
    assert data.DeviceLoader is DeviceLoader and data.to_float is to_float
    assert set(data.__all__) == {"Dataset", "DatasetInfo", "DeviceLoader", "load_dataset", "list_datasets",
                                 "pixel_range", "to_float"}
