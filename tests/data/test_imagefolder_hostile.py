"""Image folders that cannot make a classification task -- an empty test split, one class, classes that differ
between train/ and test/ -- are refused in one DataError line before anything is decoded or trained."""

import pytest

from skiplab.data import _decode, load_dataset
from skiplab.errors import DataError

from .conftest import write_idx, write_images

EXPECTED = r"train/<class>/\*\.png\|jpg\|jpeg and test/<class>/\.\.\., or a single <class>/\*\.png\|jpg\|jpeg tree"


@pytest.fixture
def no_decode(monkeypatch):
    """Fails the test if any image is decoded: these folders must be refused from their listing alone."""
    def boom(files):
        raise AssertionError(f"decoded {len(files)} images of a folder that should have been refused")
    monkeypatch.setattr(_decode, "decode", boom)


def _refused(name: str, match: str, **kwargs) -> str:
    with pytest.raises(DataError, match=match) as err:
        load_dataset(name, **kwargs)
    assert "\n" not in str(err.value)
    return str(err.value)


def test_an_empty_test_split_is_refused(tmp_path, cache, no_decode):
    for c in ("cat", "dog"):
        write_images(tmp_path / "a" / "train" / c, 2, (8, 8))
    (tmp_path / "a" / "test").mkdir()  # test/ with no class folders
    _refused(f"imagefolder:{tmp_path / 'a'}", rf"^{tmp_path / 'a' / 'test'} holds no class folders; expected ")
    (tmp_path / "a" / "test" / "cat").mkdir()  # class folders without images
    (tmp_path / "a" / "test" / "dog").mkdir()
    (tmp_path / "a" / "test" / "dog" / "notes.txt").write_text("no image here")
    _refused(f"imagefolder:{tmp_path / 'a'}",
             rf"^class folder {tmp_path / 'a' / 'test' / 'cat'} holds no \.png/\.jpg/\.jpeg images")


def test_a_single_tree_with_nothing_to_hold_out_is_refused(tmp_path, cache, no_decode):
    # one image per class: the stratified split keeps a lone image in train, so the test split would be empty
    for c in ("a", "b", "c"):
        write_images(tmp_path / "one" / c, 1, (8, 8))
    msg = _refused(f"imagefolder:{tmp_path / 'one'}", "test split would be empty", val_fraction=0.5)
    assert msg == (f"image folder {tmp_path / 'one'}: no class has two images, so none can be held out and the "
                   "test split would be empty; add images, or give it train/ and test/ folders")
    assert not (cache / "imagefolder").exists()  # refused before decoding, nothing cached


@pytest.mark.parametrize("layout", ["single", "split"])
def test_one_class_is_refused(tmp_path, cache, no_decode, layout):
    # a one-class net is never wrong: it used to train and report "test error 0.00%"
    if layout == "single":
        write_images(tmp_path / "f" / "only", 10, (8, 8))
    else:
        write_images(tmp_path / "f" / "train" / "only", 4, (8, 8))
        write_images(tmp_path / "f" / "test" / "only", 2, (8, 8))
    _refused(f"imagefolder:{tmp_path / 'f'}", rf"^image folder {tmp_path / 'f'} has one class folder \(only\); a "
                                               rf"classifier needs at least two, one per label: {EXPECTED}$")


def test_a_class_only_in_test_is_refused(tmp_path, cache, no_decode):
    # labels are the sorted train classes: a test-only class would have no label (or shift the others)
    for split, classes in (("train", ("ant", "bee")), ("test", ("ant", "bee", "cow"))):
        for c in classes:
            write_images(tmp_path / "t" / split / c, 2, (8, 8))
    _refused(f"imagefolder:{tmp_path / 't'}", rf"^{tmp_path / 't'}: train/ and test/ must have the same class "
                                               r"folders; only in train: -; only in test: cow$")


def test_two_classes_with_a_held_out_image_each_still_load(tmp_path, cache):
    # the smallest folder that is accepted: two classes, two images each, one of each held out
    imgs = {c: write_images(tmp_path / "ok" / c, 2, (8, 8), seed=i) for i, c in enumerate(("a", "b"))}
    ds = load_dataset(f"imagefolder:{tmp_path / 'ok'}", val_fraction=0.5, seed=0)
    assert ds.num_classes == 2 and ds.train_y.tolist() == [0, 1] and ds.test_y.tolist() == [0, 1]
    held_out = {ds.test_x[i].numpy().tobytes() for i in range(2)}
    trained = {ds.train_x[i].numpy().tobytes() for i in range(2)}
    assert held_out | trained == {img.tobytes() for c in imgs.values() for img in c} and not held_out & trained


def test_an_empty_test_split_of_an_idx_release_is_refused(tmp_path, cache):
    # the shared check in _common.build: any file-based source with no test examples
    write_idx(tmp_path, n_test=0, gz=False)
    _refused("mnist", rf"^mnist: the test split is empty \(mnist IDX files in {tmp_path}\)$", root=tmp_path)
