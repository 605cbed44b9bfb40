"""Tiny synthetic data for the training tests (importable by spawned DDP workers)."""
import torch

from skiplab.data.dataset import Dataset, DatasetInfo


def blobs(n_train: int = 256, n_test: int = 128, dim: int = 2, classes: int = 3, seed: int = 0) -> Dataset:
    """Well-separated Gaussian blobs: a tiny vector dataset any sensible model learns."""
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(classes, dim, generator=g) * 4
    def split(n):
        y = torch.randint(0, classes, (n,), generator=g)
        return centers[y] + torch.randn(n, dim, generator=g) * 0.5, y
    (xa, ya), (xb, yb) = split(n_train), split(n_test)
    info = DatasetInfo("blobs", "vector", (dim,), tuple(str(i) for i in range(classes)), (0.0,) * dim, (1.0,) * dim)
    return Dataset(info, xa, ya, xb, yb)


def augmented_images(n_train: int = 128, n_test: int = 32, classes: int = 3, seed: int = 0) -> Dataset:
    """Tiny 1x8x8 uint8 images whose class is the brightest quadrant, trained with pad-1 crops and flips."""
    g = torch.Generator().manual_seed(seed)
    def split(n):
        y = torch.randint(0, classes, (n,), generator=g)
        x = torch.randint(0, 100, (n, 1, 8, 8), generator=g)
        for c in range(classes):
            x[y == c, :, (c // 2) * 4:(c // 2) * 4 + 4, (c % 2) * 4:(c % 2) * 4 + 4] += 150
        return x.to(torch.uint8), y
    (xa, ya), (xb, yb) = split(n_train), split(n_test)
    info = DatasetInfo("quadrants", "image", (1, 8, 8), tuple(str(i) for i in range(classes)), (0.3,), (0.25,),
                       augment=("crop", "flip"), crop_padding=1)
    return Dataset(info, xa, ya, xb, yb)
