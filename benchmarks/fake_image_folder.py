"""A tiny random image folder for the GPU scripts' DRY_RUN (a CPU logic check): DIR/train|test/cat|dog/*.jpg,
24 train and 8 test 32x32 RGB images a class, seeded.

    python benchmarks/fake_image_folder.py DIR"""

import sys
from pathlib import Path

import numpy as np
from PIL import Image

rng = np.random.default_rng(0)
for split, n in (("train", 24), ("test", 8)):
    for c in ("cat", "dog"):
        d = Path(sys.argv[1]) / split / c
        d.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(d / f"{i}.jpg")
