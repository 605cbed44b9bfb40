"""scikit-learn's embedded 8x8 handwritten digits (the UCI optical digits test set): no files, no download.

1797 images with values 0..16, scaled to [0, 1] float32; split 75/25 stratified with a fixed seed, so every run
and every machine sees the same 1347 / 450 examples.
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from ._common import build
from .dataset import Dataset


def load() -> Dataset:
    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)[:, None]  # (1797, 1, 8, 8)
    y = bunch.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.25, stratify=y, random_state=0)
    return build("digits", "image", [str(c) for c in bunch.target_names], (x_tr, y_tr), (x_te, y_te),
                 source="scikit-learn load_digits (8x8, values/16), stratified 75/25 split, random_state=0")
