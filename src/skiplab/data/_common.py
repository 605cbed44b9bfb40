"""What every file-based source shares: turning numpy arrays into a checked `Dataset`, and the one-line
message for a root that lacks the expected files."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..errors import DataError
from .dataset import Dataset, DatasetInfo, Kind, channel_stats


def missing_files(name: str, root: Path, expected: str, downloadable: bool) -> DataError:
    """The error for a root without the files a source reads; names the dir and what would be valid there."""
    where = f"{root} does not exist" if not root.exists() else f"nothing usable in {root}"
    hint = "; or pass --download (download=True) to fetch it there" if downloadable else ""
    return DataError(f"{name}: {where}: expected {expected}{hint}")


def check_labels(labels: np.ndarray, num_classes: int, where: str) -> None:
    """Labels index the class list; anything outside it would silently corrupt training."""
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        bad = int(labels.min() if labels.min() < 0 else labels.max())
        raise DataError(f"{where}: label {bad} is outside 0..{num_classes - 1}")


def build(name: str, kind: Kind, classes: Sequence[str], train: tuple[np.ndarray, np.ndarray],
          test: tuple[np.ndarray, np.ndarray], *, augment: tuple[str, ...] = (), crop_padding: int = 0,
          source: str = "", version: str = "") -> Dataset:
    """A `Dataset` from (x, y) numpy pairs; x keeps its dtype (uint8 or float32), y becomes int64.

    mean/std are measured on the training split, as DatasetInfo promises.
    """
    tensors = []
    for arr in (*train, *test):
        arr = np.ascontiguousarray(arr)
        if not arr.flags.writeable:  # np.frombuffer views are read-only; torch tensors must own writable memory
            arr = arr.copy()
        tensors.append(torch.from_numpy(arr))
    tensors[1], tensors[3] = tensors[1].long(), tensors[3].long()
    train_x, train_y, test_x, test_y = tensors
    for split, y in (("training", train_y), ("test", test_y)):
        if len(y) == 0:  # an empty test split would fail (or report nothing) only after training
            raise DataError(f"{name}: the {split} split is empty ({source})")
    mean, std = channel_stats(train_x)
    info = DatasetInfo(name=name, kind=kind, shape=tuple(train_x.shape[1:]), classes=tuple(classes), mean=mean,
                       std=std, augment=augment, crop_padding=crop_padding, source=source, version=version)
    return Dataset(info, train_x, train_y, test_x, test_y)
