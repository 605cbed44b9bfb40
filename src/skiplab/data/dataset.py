"""The in-memory dataset every source returns: train/test tensors plus what a model needs to know about them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch

Kind = Literal["image", "sequence", "vector"]
AUGMENTS = ("crop", "flip")


@dataclass(frozen=True)
class DatasetInfo:
    """Metadata of a dataset.

    shape:   one example's shape, channels first: (C, H, W) images, (C, L) sequences, (F,) vectors.
    mean/std: per channel (per feature for vectors), measured on the training split in the float scale the
             loader produces ([0, 1] for uint8 images); the model's input-normalization layer uses them.
    augment: the default training augmentation, a subset of AUGMENTS ("crop" = pad-and-random-crop by
             `crop_padding`, "flip" = random horizontal flip; flipping digits would change their meaning).
    """

    name: str
    kind: Kind
    shape: tuple[int, ...]
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    augment: tuple[str, ...] = ()
    crop_padding: int = 0
    source: str = ""
    version: str = ""  # a generated dataset's generator version: part of a run's config hash (see hashed_config)

    def __post_init__(self) -> None:
        if len(self.mean) != self.shape[0] or len(self.std) != self.shape[0]:
            raise ValueError(f"mean/std need {self.shape[0]} entries (one per channel) for shape {self.shape}")
        bad = [a for a in self.augment if a not in AUGMENTS]
        if bad:
            raise ValueError(f"unknown augmentation {bad[0]!r}; valid: {', '.join(AUGMENTS)}")


@dataclass
class Dataset:
    """Train and test tensors. `x` is uint8 (images, divided by 255 on use) or float32; `y` is int64 labels."""

    info: DatasetInfo
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor

    def __post_init__(self) -> None:
        for split, x, y in (("train", self.train_x, self.train_y), ("test", self.test_x, self.test_y)):
            if x.shape[0] != y.shape[0]:
                raise ValueError(f"{split}: {x.shape[0]} inputs but {y.shape[0]} labels")
            if tuple(x.shape[1:]) != tuple(self.info.shape):
                raise ValueError(f"{split}: example shape {tuple(x.shape[1:])} is not {self.info.shape}")

    @property
    def num_classes(self) -> int:
        return len(self.info.classes)

    def model_kwargs(self) -> dict[str, Any]:
        """What `create_model` needs to fit this data: channels, classes, input size and normalization."""
        return {
            "in_channels": self.info.shape[0],
            "num_classes": self.num_classes,
            "input_size": tuple(self.info.shape[1:]),
            "input_mean": tuple(self.info.mean),
            "input_std": tuple(self.info.std),
        }

    def summary(self) -> str:
        i = self.info
        return (f"{i.name}: {len(self.train_y)} train / {len(self.test_y)} test, {len(i.classes)} classes, "
                f"shape {i.shape}")


def to_float(x: torch.Tensor) -> torch.Tensor:
    """The float view a model sees: uint8 pixels are scaled to [0, 1], floats pass through."""
    if x.dtype == torch.uint8:
        return x.float().div_(255.0)
    return x.float()


def pixel_range(data: Dataset) -> tuple[float, float]:
    """The valid input range attacks must stay in: [0, 1] for images stored as uint8 (or scaled there, digits),
    else the training split's own min and max (e.g. MNIST-1D signals)."""
    if data.train_x.dtype == torch.uint8:
        return 0.0, 1.0
    x = to_float(data.train_x)
    lo, hi = float(x.min()), float(x.max())
    return (0.0, 1.0) if lo >= 0.0 and hi <= 1.0 else (lo, hi)


def channel_stats(x: torch.Tensor, chunk: int = 4096) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of examples `x` (N, C, ...) in the float scale the loader produces."""
    n_ch = x.shape[1]
    if x.dtype == torch.uint8:
        # Exact and ~10x faster than summing floats: a 256-bin histogram per channel.
        values = torch.arange(256, dtype=torch.float64) / 255
        counts = torch.stack([torch.bincount(x[:, c].reshape(-1), minlength=256) for c in range(n_ch)]).double()
        n = counts.sum(1).clamp_min(1)
        mean = (counts * values).sum(1) / n
        var = (counts * (values - mean[:, None]) ** 2).sum(1) / n
    else:
        dims = [0] + list(range(2, x.dim()))
        total = torch.zeros(n_ch, dtype=torch.float64)
        total_sq = torch.zeros(n_ch, dtype=torch.float64)
        for start in range(0, x.shape[0], chunk):
            xf = to_float(x[start:start + chunk])
            total += xf.sum(dims, dtype=torch.float64)
            total_sq += (xf * xf).sum(dims, dtype=torch.float64)
        n = max(x.numel() // max(n_ch, 1), 1)
        mean = total / n
        var = total_sq / n - mean * mean
    std = var.clamp_min(0).sqrt().clamp_min(1e-6)
    return tuple(round(v, 6) for v in mean.tolist()), tuple(round(v, 6) for v in std.tolist())


def spread(total: int, n: int | None) -> torch.Tensor | slice:
    """Indices of `n` examples spread evenly over `total` (all of them when n is None or >= total). Image folders
    come sorted by class, so "the first n" would all be one class."""
    if n is None or n >= total:
        return slice(None)
    return torch.linspace(0, total - 1, n).round().long()
