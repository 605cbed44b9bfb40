import pytest
import torch

from skiplab.data.dataset import Dataset, DatasetInfo, channel_stats


@pytest.mark.parametrize("shape", [(200, 3, 5, 4), (50, 1, 40), (30, 6)])
def test_channel_stats_equal_the_direct_computation(shape):
    g = torch.Generator().manual_seed(0)
    x8 = torch.randint(0, 256, shape, dtype=torch.uint8, generator=g)
    xf = x8.double() / 255
    dims = [0] + list(range(2, len(shape)))
    mean, std = xf.mean(dims), xf.std(dims, unbiased=False)
    for x in (x8, xf.float()):  # the histogram path (uint8) and the summing path (float) agree
        m, s = channel_stats(x, chunk=7)
        assert torch.allclose(torch.tensor(m, dtype=torch.float64), mean, atol=2e-6)
        assert torch.allclose(torch.tensor(s, dtype=torch.float64), std, atol=2e-6)


def test_dataset_checks_shapes():
    info = DatasetInfo("t", "vector", (2,), ("a", "b"), (0.0, 0.0), (1.0, 1.0))
    with pytest.raises(ValueError, match="labels"):
        Dataset(info, torch.zeros(3, 2), torch.zeros(2, dtype=torch.long), torch.zeros(1, 2), torch.zeros(1))
    with pytest.raises(ValueError, match="mean/std"):
        DatasetInfo("t", "vector", (2,), ("a",), (0.0,), (1.0,))
