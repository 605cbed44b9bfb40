"""The one dataset cache of a process (the driver and each pool worker load a dataset once), and the fixed batches
claims probe with."""

from __future__ import annotations

import torch

from skiplab import config as C
from skiplab.data import Dataset, to_float
from skiplab.data.dataset import spread
from skiplab.train.experiment import DataConfig, load_data

_DATA: dict[str, Dataset] = {}


def dataset(cfg: DataConfig | str, root: str | None = None) -> Dataset:
    """The dataset of `cfg` (a DataConfig, or a name plus `root`), loaded once per process."""
    if isinstance(cfg, str):
        cfg = DataConfig(name=cfg, root=root)
    key = C.stable_hash(cfg)
    if key not in _DATA:
        _DATA[key] = load_data(cfg)
    return _DATA[key]


def probe_batch(data: Dataset, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed batch of `n` training examples (seed 0, the same for every run and seed)."""
    g = torch.Generator().manual_seed(0)
    idx = torch.randperm(len(data.train_y), generator=g)[:n]
    return to_float(data.train_x[idx]), data.train_y[idx]


def heldout_batch(data: Dataset, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`n` test examples spread evenly over the split (image folders come sorted by class)."""
    idx = spread(len(data.test_y), n)
    return to_float(data.test_x[idx]), data.test_y[idx]


def calibration_batch(data: Dataset, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`n` training examples spread evenly over the split, for batch-norm calibration and linear probes."""
    idx = spread(len(data.train_y), n)
    return to_float(data.train_x[idx]), data.train_y[idx]
