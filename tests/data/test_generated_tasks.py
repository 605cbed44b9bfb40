"""The generated tasks: multi-scale shapes (scales vary >= 4x) and Pathfinder-like curves (the label is whether the
markers are joined), seeded, cached, and what they promise."""

import numpy as np
import pytest
from scipy import ndimage

from skiplab.data import load_dataset, multiscale, pathfinder


def test_multiscale_shapes_vary_in_scale_at_least_4x(monkeypatch):
    monkeypatch.setattr(multiscale, "NOISE", 0.0)
    x, y = multiscale.render(240, np.random.default_rng(0))
    assert x.shape == (240, 1, 32, 32) and x.dtype == np.uint8 and y.dtype == np.int64
    assert np.bincount(y).tolist() == [40] * 6
    assert multiscale.SCALE_RANGE >= 4
    # ink area of one shape class grows with the radius squared: 4x in scale is ~16x in area
    area = (x[:, 0] > 64).sum((1, 2))
    disks = area[y == multiscale.CLASSES.index("disk")]
    assert disks.max() / disks.min() > 8
    x2, y2 = multiscale.render(240, np.random.default_rng(0))
    assert np.array_equal(x, x2) and np.array_equal(y, y2)  # seeded


def test_pathfinder_label_is_whether_the_markers_are_joined(monkeypatch):
    monkeypatch.setattr(pathfinder, "NOISE", 0.0)
    x, y = pathfinder.render(200, np.random.default_rng(0))
    assert x.shape == (200, 1, 32, 32) and np.bincount(y).tolist() == [100, 100]
    joined = []
    for img in x[:, 0]:
        markers, n = ndimage.label(img == 255)
        assert n == 2 or n == 1  # two 3x3 squares (touching when the ends are close)
        ink, _ = ndimage.label(img > 40, structure=np.ones((3, 3)))  # curves + markers, 8-connected
        joined.append(len(set(ink[markers > 0].tolist())) == 1)
    # the curves never touch: the label is exactly "the markers are connected by ink"
    assert np.array_equal(np.array(joined), y == 1)
    # every image has two curves: the same amount of ink whatever the label (no local shortcut by ink count)
    ink = (x[:, 0] > 40).sum((1, 2))
    assert abs(ink[y == 1].mean() - ink[y == 0].mean()) < 0.1 * ink.mean()


def test_generated_datasets_are_cached(tmp_path, monkeypatch):
    monkeypatch.setattr(multiscale, "SPLITS", (30, 12))
    ds = load_dataset("multiscale", cache_dir=tmp_path)
    assert ds.summary() == "multiscale: 30 train / 12 test, 6 classes, shape (1, 32, 32)"
    files = list((tmp_path / "multiscale").glob("*.npz"))
    assert len(files) == 1
    assert not np.array_equal(ds.train_x[:12].numpy(), ds.test_x.numpy())  # test is drawn from its own seed
    again = load_dataset("multiscale", cache_dir=tmp_path)
    assert np.array_equal(again.train_x.numpy(), ds.train_x.numpy())
    files[0].write_bytes(b"not an npz")  # an unreadable entry is generated again, not trusted
    assert np.array_equal(load_dataset("multiscale", cache_dir=tmp_path).test_x.numpy(), ds.test_x.numpy())
    monkeypatch.setattr(multiscale, "NOISE", 0.2)  # another setting: another cache entry
    load_dataset("multiscale", cache_dir=tmp_path)
    assert len(list((tmp_path / "multiscale").glob("*.npz"))) == 2


@pytest.mark.parametrize("name", ["multiscale", "pathfinder"])
def test_listed(name):
    from skiplab.data import list_datasets
    assert name in list_datasets()


def test_generator_version_joins_the_run_hash(tmp_path, monkeypatch):
    # a changed generator (a bumped VERSION) must not be served the runs trained on its old data
    from skiplab.train.experiment import DataConfig, ModelConfig, RunConfig, hashed_config
    monkeypatch.setattr(multiscale, "SPLITS", (30, 12))
    cfg = RunConfig(model=ModelConfig("resnet8"), data=DataConfig(name="multiscale"))
    ds = load_dataset("multiscale", cache_dir=tmp_path)
    assert ds.info.version == f"multiscale-v{multiscale.VERSION}"
    before = hashed_config(cfg, ds)
    monkeypatch.setattr(multiscale, "VERSION", multiscale.VERSION + 1)
    after = hashed_config(cfg, load_dataset("multiscale", cache_dir=tmp_path))
    assert before["data"]["version"] != after["data"]["version"] and before["model"] == after["model"]
    # file-based and older sources carry no version: their run hashes are unchanged
    assert "version" not in hashed_config(RunConfig(model=ModelConfig("resnet8")), load_dataset("digits"))["data"]
