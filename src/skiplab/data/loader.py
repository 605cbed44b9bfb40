"""A device-resident batch loader: the data sit on the training device, batches are drawn by a seeded generator,
and augmentation runs there too, so a training step never waits on the host.

The order of epoch `e` depends only on (seed, e), so a run resumed at an epoch boundary sees exactly the batches an
uninterrupted run would have seen.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import torch

from .dataset import AUGMENTS, to_float


def random_crop(x: torch.Tensor, padding: int, gen: torch.Generator, pick: slice = slice(None),
                drawn: int | None = None) -> torch.Tensor:
    """Zero-pad the spatial dims by `padding` and crop back at a random offset per example (1D or 2D).

    `drawn` examples' offsets are drawn and `pick` selects this batch's from them: a rank holding every
    world_size-th example of a global batch of `drawn` draws the same numbers a single process would and keeps
    its own, so its crops are the single process's crops of the same images.
    """
    if padding <= 0:
        return x
    spatial = x.shape[2:]
    n = x.shape[0]
    drawn = n if drawn is None else drawn
    pad = [padding] * (2 * len(spatial))
    xp = torch.nn.functional.pad(x, pad)
    offsets = [torch.randint(0, 2 * padding + 1, (drawn,), generator=gen, device=x.device)[pick] for _ in spatial]
    b = torch.arange(n, device=x.device)
    c = torch.arange(x.shape[1], device=x.device)
    if len(spatial) == 1:
        cols = offsets[0][:, None] + torch.arange(spatial[0], device=x.device)
        return xp[b[:, None, None], c[None, :, None], cols[:, None, :]]
    rows = offsets[0][:, None] + torch.arange(spatial[0], device=x.device)
    cols = offsets[1][:, None] + torch.arange(spatial[1], device=x.device)
    return xp[b[:, None, None, None], c[None, :, None, None], rows[:, None, :, None], cols[:, None, None, :]]


def random_flip(x: torch.Tensor, gen: torch.Generator, pick: slice = slice(None),
                drawn: int | None = None) -> torch.Tensor:
    """Mirror each example along its last axis with probability 1/2 (`pick`, `drawn` as in random_crop)."""
    flip = torch.rand(x.shape[0] if drawn is None else drawn, generator=gen, device=x.device)[pick] < 0.5
    mask = flip.view(-1, *([1] * (x.dim() - 1)))
    return torch.where(mask, x.flip(-1), x)


class DeviceLoader:
    """Batches of (float inputs, int64 labels) on `device`.

    batch_size is global: with `world_size` > 1 each rank takes its own slice of every global batch, all ranks
    drawing the same permutation and the same augmentation, so the ranks' batches together are one process's.
    `drop_last` keeps every training step the same size (default for training).
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, *, shuffle: bool = True,
                 drop_last: bool = True, seed: int = 0, augment: Sequence[str] = (), crop_padding: int = 0,
                 device: str | torch.device = "cpu", rank: int = 0, world_size: int = 1,
                 channels_last: bool = False) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        bad = [a for a in augment if a not in AUGMENTS]
        if bad:
            raise ValueError(f"unknown augmentation {bad[0]!r}; valid: {', '.join(AUGMENTS)}")
        self.device = torch.device(device)
        self.x = x.to(self.device)
        self.y = y.to(self.device, torch.int64)
        self.batch_size = min(batch_size, len(self.y)) if not drop_last else batch_size
        self.shuffle, self.drop_last, self.seed = shuffle, drop_last, seed
        self.augment, self.crop_padding = tuple(augment), crop_padding
        self.rank, self.world_size = rank, world_size
        self.channels_last = channels_last and self.x.dim() == 4
        if drop_last and len(self.y) < batch_size:
            raise ValueError(f"batch_size {batch_size} is larger than the {len(self.y)} training examples")

    def __len__(self) -> int:
        n = len(self.y)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _generator(self, epoch: int) -> torch.Generator:
        gen = torch.Generator(device=self.device)
        gen.manual_seed(self.seed * 1_000_003 + epoch)
        return gen

    def epoch(self, epoch: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        gen = self._generator(epoch)
        n = len(self.y)
        order = torch.randperm(n, generator=gen, device=self.device) if self.shuffle else None
        for i in range(len(self)):
            lo, hi = i * self.batch_size, min((i + 1) * self.batch_size, n)
            idx = order[lo:hi] if order is not None else torch.arange(lo, hi, device=self.device)
            # each rank keeps every world_size-th example of the global batch, and the random numbers of the
            # augmentation are drawn for the whole global batch: a rank's examples are augmented exactly as one
            # process at the global batch would augment them
            pick = slice(self.rank, None, self.world_size)
            idx = idx[pick]
            xb = to_float(self.x[idx])
            if "crop" in self.augment:
                xb = random_crop(xb, self.crop_padding, gen, pick, hi - lo)
            if "flip" in self.augment:
                xb = random_flip(xb, gen, pick, hi - lo)
            if self.channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            yield xb, self.y[idx]

    __iter__ = epoch
