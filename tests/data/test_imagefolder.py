import os

import numpy as np
import pytest
from PIL import Image

from skiplab.data import _decode, load_dataset
from skiplab.errors import DataError

from .conftest import write_images


def _split_tree(root, classes=("cat", "dog"), n=(3, 2), fmt="png", size=(32, 32), mode="RGB"):
    """train/<class>/ and test/<class>/ with the known pixels per split, in load order (classes sorted)."""
    out = {"train": [], "test": []}
    for s, (split, count) in enumerate(zip(("train", "test"), n)):
        for i, c in enumerate(sorted(classes)):
            imgs = write_images(root / split / c, count, size, fmt, mode, seed=10 * s + i)
            out[split] += [(img, i) for img in imgs]
    return out


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
def test_split_tree_round_trip(tmp_path, cache, fmt):
    expected = _split_tree(tmp_path / "pics", classes=("zebra", "ant", "moth"), fmt=fmt)
    ds = load_dataset(f"imagefolder:{tmp_path / 'pics'}")
    assert ds.info.classes == ("ant", "moth", "zebra")
    assert ds.info.shape == (3, 32, 32) and ds.train_x.dtype.itemsize == 1
    for split in ("train", "test"):
        x, y = getattr(ds, f"{split}_x").numpy(), getattr(ds, f"{split}_y").numpy()
        assert np.array_equal(x, np.stack([img for img, _ in expected[split]]))
        assert y.tolist() == [c for _, c in expected[split]]
    assert ds.info.augment == ("crop", "flip") and ds.info.crop_padding == 4
    assert ds.info.name == f"imagefolder:{tmp_path / 'pics'}"


def test_root_argument_and_grayscale(tmp_path, cache):
    expected = _split_tree(tmp_path / "g", mode="L", size=(12, 10))
    ds = load_dataset("imagefolder", root=tmp_path / "g")
    assert ds.info.shape == (1, 10, 12)  # all grayscale: one channel; (H, W) from PIL's (W, H)
    assert np.array_equal(ds.train_x.numpy(), np.stack([img for img, _ in expected["train"]]))
    assert ds.info.augment == () and ds.info.crop_padding == 0  # below 16 px no crop


def test_mixed_gray_and_rgb_becomes_rgb(tmp_path, cache):
    rgb = write_images(tmp_path / "m" / "a", 2, (16, 16), mode="RGB")
    gray = write_images(tmp_path / "m" / "b", 2, (16, 16), mode="L", seed=1)
    ds = load_dataset(f"imagefolder:{tmp_path / 'm'}", val_fraction=0.5)
    assert ds.info.shape == (3, 16, 16) and ds.info.crop_padding == 2
    everything = {ds.train_x[i].numpy().tobytes() for i in range(len(ds.train_y))}
    everything |= {ds.test_x[i].numpy().tobytes() for i in range(len(ds.test_y))}
    assert everything == {a.tobytes() for a in rgb} | {np.repeat(g, 3, 0).tobytes() for g in gray}


def test_single_tree_stratified_seeded_split(tmp_path, cache):
    for c, n in (("a", 10), ("b", 20), ("c", 1)):
        write_images(tmp_path / "one" / c, n, (8, 8), seed=len(c) + n)
    name = f"imagefolder:{tmp_path / 'one'}"
    ds = load_dataset(name, val_fraction=0.2, seed=3)
    assert np.bincount(ds.test_y.numpy(), minlength=3).tolist() == [2, 4, 0]  # a lone image stays in train
    assert np.bincount(ds.train_y.numpy(), minlength=3).tolist() == [8, 16, 1]
    again = load_dataset(name, val_fraction=0.2, seed=3)
    other = load_dataset(name, val_fraction=0.2, seed=4)
    assert np.array_equal(ds.test_x.numpy(), again.test_x.numpy())
    assert not np.array_equal(ds.test_x.numpy(), other.test_x.numpy())
    # train and test partition the images
    all_imgs = sorted(np.concatenate([ds.train_x.numpy(), ds.test_x.numpy()]).reshape(31, -1).tolist())
    assert all_imgs == sorted(np.concatenate([other.train_x.numpy(), other.test_x.numpy()]).reshape(31, -1).tolist())
    with pytest.raises(DataError, match=r"val_fraction 0 must lie strictly between 0 and 1"):
        load_dataset(name, val_fraction=0)


def test_parallel_decode_equals_serial_and_cache_is_used(tmp_path, cache, monkeypatch):
    _split_tree(tmp_path / "p", n=(40, 10), size=(16, 16))
    name = f"imagefolder:{tmp_path / 'p'}"
    serial = load_dataset(name, cache_dir=tmp_path / "c1")
    monkeypatch.setattr(_decode, "PARALLEL_MIN", 0)
    monkeypatch.setattr(_decode, "_workers", lambda: 2)
    parallel = load_dataset(name, cache_dir=tmp_path / "c2")
    assert np.array_equal(serial.train_x.numpy(), parallel.train_x.numpy())
    assert [p.suffix for p in (tmp_path / "c2" / "imagefolder").iterdir()] == [".npy"]

    def boom(files):
        raise AssertionError("decoded again")
    monkeypatch.setattr(_decode, "decode", boom)
    cached = load_dataset(name, cache_dir=tmp_path / "c2")
    assert np.array_equal(cached.test_x.numpy(), parallel.test_x.numpy())
    # touching one file changes the key, so it is decoded again
    f = tmp_path / "p" / "test" / "dog" / "img000.png"
    os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 10**9))
    with pytest.raises(AssertionError, match="decoded again"):
        load_dataset(name, cache_dir=tmp_path / "c2")


@pytest.mark.parametrize("parallel", [False, True])
def test_unreadable_image_is_named(tmp_path, cache, monkeypatch, parallel):
    _split_tree(tmp_path / "u", n=(6, 2), size=(16, 16))
    bad = tmp_path / "u" / "train" / "dog" / "img004.png"
    bad.write_bytes(b"not a png at all")
    if parallel:
        monkeypatch.setattr(_decode, "PARALLEL_MIN", 0)
        monkeypatch.setattr(_decode, "_workers", lambda: 2)
    with pytest.raises(DataError, match=rf"{bad} is not a readable image"):
        load_dataset(f"imagefolder:{tmp_path / 'u'}")
    assert not (cache / "imagefolder").exists() or not any((cache / "imagefolder").iterdir())


def test_truncated_jpeg_is_named(tmp_path, cache):
    _split_tree(tmp_path / "t", n=(2, 1), fmt="jpeg")
    bad = tmp_path / "t" / "test" / "cat" / "img000.jpeg"
    bad.write_bytes(bad.read_bytes()[:200])
    with pytest.raises(DataError, match=rf"{bad} is not a readable image"):
        load_dataset(f"imagefolder:{tmp_path / 't'}")


def test_odd_image_size_is_named(tmp_path, cache):
    _split_tree(tmp_path / "s", n=(3, 1))
    odd = tmp_path / "s" / "train" / "dog" / "img001.png"
    Image.new("RGB", (30, 32)).save(odd)
    with pytest.raises(DataError, match=rf"{odd} is 30x32 pixels but .*cat/img000\.png is 32x32"):
        load_dataset(f"imagefolder:{tmp_path / 's'}")


def test_empty_class_dir_is_named(tmp_path, cache):
    _split_tree(tmp_path / "e", n=(2, 1))
    empty = tmp_path / "e" / "test" / "dog"
    for f in empty.iterdir():
        f.unlink()
    (empty / "notes.txt").write_text("not an image")
    with pytest.raises(DataError, match=rf"class folder {empty} holds no \.png/\.jpg/\.jpeg images"):
        load_dataset(f"imagefolder:{tmp_path / 'e'}")


def test_mismatched_class_sets(tmp_path, cache):
    _split_tree(tmp_path / "x", n=(2, 1))
    write_images(tmp_path / "x" / "train" / "emu", 1)
    write_images(tmp_path / "x" / "test" / "owl", 1)
    with pytest.raises(DataError, match=rf"{tmp_path / 'x'}: train/ and test/ must have the same class folders; "
                                        r"only in train: emu; only in test: owl"):
        load_dataset(f"imagefolder:{tmp_path / 'x'}")


def test_missing_and_empty_roots(tmp_path, cache):
    with pytest.raises(DataError, match=rf"image folder {tmp_path / 'nope'} does not exist; expected train/"):
        load_dataset(f"imagefolder:{tmp_path / 'nope'}")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "stray.png").write_bytes(b"")
    with pytest.raises(DataError, match=rf"image folder {tmp_path / 'empty'} holds no folders"):
        load_dataset(f"imagefolder:{tmp_path / 'empty'}")
    (tmp_path / "e2" / "train").mkdir(parents=True)
    (tmp_path / "e2" / "test").mkdir()
    with pytest.raises(DataError, match=rf"{tmp_path / 'e2' / 'train'} holds no class folders"):
        load_dataset(f"imagefolder:{tmp_path / 'e2'}")


def test_half_a_split_layout_is_refused(tmp_path, cache):
    write_images(tmp_path / "h" / "train" / "cat", 1)
    write_images(tmp_path / "h" / "val" / "cat", 1)
    with pytest.raises(DataError, match=rf"image folder {tmp_path / 'h'} has train/ but no test/"):
        load_dataset(f"imagefolder:{tmp_path / 'h'}")


def test_name_and_root_must_agree(tmp_path, cache):
    with pytest.raises(DataError, match="name two folders"):
        load_dataset(f"imagefolder:{tmp_path / 'a'}", root=tmp_path / "b")
