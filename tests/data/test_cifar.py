import numpy as np
import pytest

from skiplab.data import load_dataset
from skiplab.errors import DataError

from .conftest import Global, make_tar_gz, py2_pickle, write_cifar


def _listing(root):
    """Names in `root` (hidden temporaries included), leaving out the test's cache dir."""
    return sorted(p.name for p in root.iterdir() if p.name != "cache")


def _assert_matches(ds, expected, name):
    for split in ("train", "test"):
        x, y = expected[split]
        assert getattr(ds, f"{split}_x").dtype.is_floating_point is False
        assert np.array_equal(getattr(ds, f"{split}_x").numpy(), x)  # CHW: channel planes of 1024 bytes
        assert np.array_equal(getattr(ds, f"{split}_y").numpy(), y)
    assert ds.info.classes == expected["classes"]
    assert ds.info.shape == (3, 32, 32) and ds.info.kind == "image" and ds.info.name == name
    assert ds.info.augment == ("crop", "flip") and ds.info.crop_padding == 4
    mean = expected["train"][0].reshape(-1, 3, 1024).transpose(1, 0, 2).reshape(3, -1).mean(1) / 255
    assert np.allclose(ds.info.mean, mean, atol=1e-5)


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
@pytest.mark.parametrize("fmt", ["python", "binary"])
@pytest.mark.parametrize("archive", [False, True])
def test_round_trip(tmp_path, cache, name, fmt, archive):
    expected = write_cifar(tmp_path, name, fmt, archive=archive)
    ds = load_dataset(name, root=tmp_path)
    n_train = 5 * 3 if name == "cifar10" else 3
    assert len(ds.train_y) == n_train and len(ds.test_y) == 4 and ds.num_classes == (10 if name == "cifar10" else 100)
    _assert_matches(ds, expected, name)
    if archive:  # extracted beside the archive, nothing else left behind
        assert _listing(tmp_path) == sorted([expected["archive"].name, expected["folder"].name])


def test_pixel_layout_is_rgb_planes(tmp_path, cache):
    expected = write_cifar(tmp_path)
    ds = load_dataset("cifar10", root=tmp_path)
    flat = expected["train"][0].reshape(-1, 3072)[0]
    img = ds.train_x[0].numpy()
    assert img[0, 0, 1] == flat[1] and img[1, 0, 0] == flat[1024] and img[2, 31, 31] == flat[3071]
    assert img[0, 1, 0] == flat[32]


def test_root_may_be_the_extracted_folder(tmp_path, cache):
    expected = write_cifar(tmp_path)
    ds = load_dataset("cifar10", root=expected["folder"])
    _assert_matches(ds, expected, "cifar10")


@pytest.mark.parametrize("make", ["missing", "empty"])
def test_missing_root_says_what_is_expected(tmp_path, cache, make):
    root = tmp_path / "nowhere"
    if make == "empty":
        root.mkdir()
    with pytest.raises(DataError, match=rf"{root}.*cifar-10-python\.tar\.gz.*cifar-10-batches-py.*--download"):
        load_dataset("cifar10", root=root)


def test_truncated_archive_leaves_nothing(tmp_path, cache):
    expected = write_cifar(tmp_path, archive=True)
    arc = expected["archive"]
    arc.write_bytes(arc.read_bytes()[: arc.stat().st_size // 2])
    with pytest.raises(DataError, match=rf"{arc} is truncated or corrupt"):
        load_dataset("cifar10", root=tmp_path)
    assert _listing(tmp_path) == [arc.name]


def test_archive_member_escaping_root_is_refused(tmp_path, cache):
    import io
    import tarfile
    arc = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(arc, "w:gz") as tar:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    with pytest.raises(DataError, match=r"'\.\./escaped\.txt' would land outside"):
        load_dataset("cifar10", root=tmp_path)
    assert not (tmp_path.parent / "escaped.txt").exists()
    assert _listing(tmp_path) == [arc.name]


def test_archive_without_the_folder(tmp_path, cache):
    other = tmp_path / "something-else"
    other.mkdir()
    (other / "a.txt").write_text("x")
    make_tar_gz(tmp_path / "cifar-10-python.tar.gz", other)
    with pytest.raises(DataError, match="holds no folder cifar-10-batches-py/"):
        load_dataset("cifar10", root=tmp_path)
    assert not (tmp_path / "cifar-10-batches-py").exists()


@pytest.mark.parametrize("name,record", [("cifar10", 3073), ("cifar100", 3074)])
def test_binary_batch_of_wrong_size(tmp_path, cache, name, record):
    expected = write_cifar(tmp_path, name, "binary")
    bad = expected["folder"] / ("test_batch.bin" if name == "cifar10" else "test.bin")
    bad.write_bytes(bad.read_bytes()[:-1])
    with pytest.raises(DataError, match=rf"{bad} is {4 * record - 1} bytes, not a whole number of {record}-byte"):
        load_dataset(name, root=tmp_path)


def test_missing_batch_file_is_named(tmp_path, cache):
    expected = write_cifar(tmp_path)
    (expected["folder"] / "data_batch_3").unlink()
    with pytest.raises(DataError, match=r"data_batch_3 is missing"):
        load_dataset("cifar10", root=tmp_path)


def test_batch_with_a_hostile_global_is_refused_and_not_run(tmp_path, cache):
    expected = write_cifar(tmp_path)
    marker = tmp_path / "pwned"
    bad = expected["folder"] / "data_batch_2"
    bad.write_bytes(py2_pickle({b"data": Global("os", "system", (f"touch {marker}",)), b"labels": []}))
    with pytest.raises(DataError, match=rf"{bad} holds os\.system, not plain data"):
        load_dataset("cifar10", root=tmp_path)
    assert not marker.exists()


def test_batch_with_wrong_shape_or_labels(tmp_path, cache):
    expected = write_cifar(tmp_path)
    bad = expected["folder"] / "data_batch_1"
    bad.write_bytes(py2_pickle({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}))
    with pytest.raises(DataError, match=rf"{bad}: 'data' is \(2, 100\), expected a uint8 array of N x 3072"):
        load_dataset("cifar10", root=tmp_path)
    bad.write_bytes(py2_pickle({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}))
    with pytest.raises(DataError, match=rf"{bad}: label 10 is outside 0\.\.9"):
        load_dataset("cifar10", root=tmp_path)
    bad.write_bytes(py2_pickle({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}))
    with pytest.raises(DataError, match=rf"{bad}: 2 images but 1 labels"):
        load_dataset("cifar10", root=tmp_path)


def test_meta_with_wrong_class_count(tmp_path, cache):
    expected = write_cifar(tmp_path, fmt="binary")
    meta = expected["folder"] / "batches.meta.txt"
    meta.write_text("a\nb\n")
    with pytest.raises(DataError, match=rf"{meta} names 2 classes, cifar10 has 10"):
        load_dataset("cifar10", root=tmp_path)
