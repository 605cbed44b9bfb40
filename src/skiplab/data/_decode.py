"""Decoding many small image files with PIL in a process pool.

Per-image work for small images is mostly Python-level (open, parse the header, convert), which holds the GIL, so
threads would not help; processes do. Workers report a bad file as a value rather than raising across the pool,
so the parent can name the file in a single DataError line.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import sys
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from PIL import Image

from ..errors import DataError

GRAY_MODES = ("1", "L", "LA")
PARALLEL_MIN = 512  # below this many files a pool costs more than it saves
MAX_CHUNK = 2048


def _workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _context() -> mp.context.BaseContext:
    # fork on Linux: workers need only PIL and numpy, already imported here; spawn would re-import skiplab and
    # torch in every worker (seconds each).
    return mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")


def _decode_chunk(job: tuple[list[str], tuple[int, int]]) -> tuple:
    """('ok', (n, H, W, 3) uint8, is_gray (n,)) or ('size' | 'error', file, detail)."""
    paths, size = job
    out = np.empty((len(paths), size[1], size[0], 3), dtype=np.uint8)
    gray = np.zeros(len(paths), dtype=bool)
    for i, path in enumerate(paths):
        try:
            with Image.open(path) as im:
                if im.size != size:
                    return "size", path, im.size
                if im.mode in GRAY_MODES:
                    out[i] = np.asarray(im.convert("L"))[..., None]  # replicated; dropped if all are gray
                    gray[i] = True
                else:
                    out[i] = np.asarray(im.convert("RGB"))
        except Exception as e:  # PIL raises OSError, SyntaxError, ValueError, DecompressionBombError, ...
            return "error", path, f"{type(e).__name__}: {' '.join(str(e).split())}"  # one line, always
    return "ok", out, gray


def _image_size(path: str) -> tuple[int, int]:
    try:
        with Image.open(path) as im:
            return im.size
    except Exception as e:
        raise DataError(f"{path} is not a readable image ({type(e).__name__}: {' '.join(str(e).split())})") \
            from None


def decode(files: list[str]) -> np.ndarray:
    """All `files` as one (N, C, H, W) uint8 array: C = 1 if every image is grayscale, else 3 (RGB).

    Every image must have the size of the first; the first one that does not is named in the error.
    """
    size = _image_size(files[0])
    workers = _workers()
    chunk = max(1, min(MAX_CHUNK, math.ceil(len(files) / (4 * workers))))
    jobs = [(files[i:i + chunk], size) for i in range(0, len(files), chunk)]
    if len(files) < PARALLEL_MIN or workers == 1 or len(jobs) == 1:
        results = list(map(_decode_chunk, jobs))
    else:
        with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=_context()) as pool:
            results = list(pool.map(_decode_chunk, jobs))
    for status, a, b in results:
        if status == "size":
            raise DataError(f"{a} is {b[0]}x{b[1]} pixels but {files[0]} is {size[0]}x{size[1]}; all images of "
                            "an image folder must have one size")
        if status == "error":
            raise DataError(f"{a} is not a readable image ({b})")
    all_gray = all(r[2].all() for r in results)
    channels = 1 if all_gray else 3
    x = np.empty((len(files), channels, size[1], size[0]), dtype=np.uint8)
    start = 0
    for _, hwc, _ in results:
        x[start:start + len(hwc)] = hwc[..., :channels].transpose(0, 3, 1, 2)
        start += len(hwc)
    return x
