import pytest
import torch
import torch.nn.functional as F

from skiplab.data import DeviceLoader
from skiplab.data.dataset import to_float
from skiplab.data.loader import random_crop, random_flip


def _distinct(shape):
    """Examples whose every value is nonzero and unique, so a window of the padded input pins its offset."""
    n = 1
    for s in shape:
        n *= s
    return (torch.arange(n, dtype=torch.float32) + 1).reshape(shape)


def _offsets_2d(out, x, pad):
    """The (row, col) offset of each cropped example in its zero-padded original; fails if it is no window."""
    xp = F.pad(x, [pad] * 4)
    h, w = x.shape[2:]
    found = []
    for n in range(x.shape[0]):
        hits = [(i, j) for i in range(2 * pad + 1) for j in range(2 * pad + 1)
                if torch.equal(out[n], xp[n, :, i:i + h, j:j + w])]
        assert len(hits) == 1, f"example {n} is not a window of the padded input"
        found.append(hits[0])
    return found


def test_random_crop_is_a_window_of_the_padded_input():
    x = _distinct((64, 2, 5, 6))
    gen = torch.Generator().manual_seed(0)
    out = random_crop(x, 2, gen)
    offsets = _offsets_2d(out, x, 2)
    assert len(set(offsets)) > 10  # offsets vary per example, across all of 0..4 x 0..4
    assert {i for i, _ in offsets} == set(range(5)) and {j for _, j in offsets} == set(range(5))
    assert torch.equal(random_crop(x, 0, gen), x)


def test_random_crop_1d():
    x = _distinct((32, 3, 10))
    out = random_crop(x, 3, torch.Generator().manual_seed(1))
    xp = F.pad(x, [3, 3])
    offsets = []
    for n in range(32):
        hits = [k for k in range(7) if torch.equal(out[n], xp[n, :, k:k + 10])]
        assert len(hits) == 1
        offsets.append(hits[0])
    assert set(offsets) == set(range(7))


def test_random_flip_mirrors_exactly():
    x = _distinct((64, 3, 4, 5))
    out = random_flip(x, torch.Generator().manual_seed(0))
    flipped = [torch.equal(out[n], x[n].flip(-1)) for n in range(64)]
    kept = [torch.equal(out[n], x[n]) for n in range(64)]
    assert all(f != k for f, k in zip(flipped, kept))  # each example exactly one of the two
    assert 10 < sum(flipped) < 54
    assert torch.equal(out[flipped.index(True)][0, 0], x[flipped.index(True)][0, 0].flip(0))


def test_loader_crops_and_flips_each_example_from_its_own_image():
    x = _distinct((40, 1, 6, 6))
    y = torch.arange(40)  # label = index, so each batch example names its source
    loader = DeviceLoader(x, y, 8, seed=5, augment=("crop", "flip"), crop_padding=1)
    for xb, yb in loader.epoch(0):
        src = x[yb]
        for n in range(len(yb)):
            cands = [c for c in (src[n:n + 1], src[n:n + 1].flip(-1))
                     if any(torch.equal(xb[n], F.pad(c, [1] * 4)[0, :, i:i + 6, j:j + 6])
                            for i in range(3) for j in range(3))]
            assert cands, f"batch example {n} is no crop of image {int(yb[n])} or its mirror"


def test_epoch_order_depends_only_on_seed_and_epoch():
    x, y = torch.zeros(50, 1), torch.arange(50)
    a = DeviceLoader(x, y, 10, seed=7)
    b = DeviceLoader(x, y, 10, seed=7)
    for _ in a.epoch(0):  # iterating other epochs first changes nothing
        pass
    order_a = torch.cat([yb for _, yb in a.epoch(3)])
    order_b = torch.cat([yb for _, yb in b.epoch(3)])
    assert torch.equal(order_a, order_b) and sorted(order_a.tolist()) == list(range(50))
    assert not torch.equal(order_a, torch.cat([yb for _, yb in b.epoch(4)]))
    assert not torch.equal(order_a, torch.cat([yb for _, yb in DeviceLoader(x, y, 10, seed=8).epoch(3)]))
    assert torch.equal(torch.cat([yb for _, yb in DeviceLoader(x, y, 10, shuffle=False).epoch(0)]), y)


def test_two_ranks_partition_each_global_batch():
    x, y = torch.zeros(64, 2), torch.arange(64)
    whole = DeviceLoader(x, y, 16, seed=2)
    ranks = [DeviceLoader(x, y, 16, seed=2, rank=r, world_size=2) for r in range(2)]
    for (_, yg), (_, y0), (_, y1) in zip(whole.epoch(1), ranks[0].epoch(1), ranks[1].epoch(1)):
        assert len(y0) == len(y1) == 8
        assert not set(y0.tolist()) & set(y1.tolist())
        assert sorted(y0.tolist() + y1.tolist()) == sorted(yg.tolist())
    assert len(ranks[0]) == len(whole) == 4


def test_two_ranks_augment_their_slices_as_one_process_would():
    # crop offsets and flips are drawn for the whole global batch on every rank, so 2 ranks x b images are,
    # bit for bit, the 1 x 2b process's images (the condition for DDP to equal one process with augmentation)
    x, y = _distinct((71, 3, 6, 6)), torch.arange(71)
    kw = dict(seed=4, augment=("crop", "flip"), crop_padding=2)
    for drop_last in (True, False):  # also the short last batch (71 = 2 x 32 + 7, split 4 and 3)
        whole = DeviceLoader(x, y, 32, drop_last=drop_last, **kw)
        ranks = [DeviceLoader(x, y, 32, drop_last=drop_last, rank=r, world_size=2, **kw) for r in range(2)]
        batches = list(zip(whole.epoch(2), ranks[0].epoch(2), ranks[1].epoch(2)))
        assert len(batches) == len(whole)
        for (xg, yg), (x0, y0), (x1, y1) in batches:
            assert torch.equal(x0, xg[0::2]) and torch.equal(x1, xg[1::2])
            assert torch.equal(y0, yg[0::2]) and torch.equal(y1, yg[1::2])
        assert not all(torch.equal(xg, to_float(x[yg])) for (xg, yg), _, _ in batches)  # it did augment


def test_uint8_is_scaled_to_unit_interval():
    x = torch.tensor([[[0, 255], [51, 102]]], dtype=torch.uint8).repeat(4, 1, 1).unsqueeze(1)  # (4,1,2,2)
    loader = DeviceLoader(x, torch.zeros(4, dtype=torch.int64), 4, shuffle=False)
    xb, yb = next(iter(loader.epoch(0)))
    assert xb.dtype == torch.float32 and yb.dtype == torch.int64
    assert torch.equal(xb[0, 0], torch.tensor([[0.0, 1.0], [0.2, 0.4]]))


def test_drop_last_and_bad_arguments():
    x, y = torch.zeros(10, 1), torch.arange(10)
    assert len(DeviceLoader(x, y, 4)) == 2 and len(DeviceLoader(x, y, 4, drop_last=False)) == 3
    assert [len(yb) for _, yb in DeviceLoader(x, y, 4, drop_last=False).epoch(0)] == [4, 4, 2]
    with pytest.raises(ValueError, match="unknown augmentation 'rotate'"):
        DeviceLoader(x, y, 4, augment=("rotate",))
    with pytest.raises(ValueError, match="larger than the 10 training examples"):
        DeviceLoader(x, y, 11)
