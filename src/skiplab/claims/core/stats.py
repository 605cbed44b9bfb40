"""Small statistics every verdict uses: summaries over seeds and the per-seed agreement test.

The agreement test is deliberately simple so a reader can check it by eye: an effect counts as present when
*every* seed clears the margin, as absent when every seed falls short of it, and as unclear otherwise (seeds
disagree, or the effect sits at the margin within seed-to-seed noise).
"""

from __future__ import annotations

import math
from typing import Literal, Sequence

Agreement = Literal["above", "below", "unclear"]


def summary(values: Sequence[float]) -> dict[str, float | int | None]:
    """{"mean", "std" (sample std, 0 for one value), "n"}; non-finite values make mean/std None."""
    vals = [float(v) for v in values]
    n = len(vals)
    if n == 0 or not all(math.isfinite(v) for v in vals):
        return {"mean": None, "std": None, "n": n}
    mean = sum(vals) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1)) if n > 1 else 0.0
    return {"mean": mean, "std": std, "n": n}


def agreement(per_seed: Sequence[float], margin: float) -> Agreement:
    """"above" if every per-seed value exceeds `margin`, "below" if every one is under it, else "unclear"."""
    vals = [float(v) for v in per_seed]
    if not vals or not all(math.isfinite(v) for v in vals):
        return "unclear"
    if all(v > margin for v in vals):
        return "above"
    if all(v < margin for v in vals):
        return "below"
    return "unclear"


def band(per_seed: Sequence[Sequence[float]]) -> tuple[list[float | None], list[float | None]]:
    """Mean and std over seeds at each index of per-seed curves (cut to the shortest curve)."""
    n = min((len(c) for c in per_seed), default=0)
    stats = [summary([c[i] for c in per_seed]) for i in range(n)]
    return [s["mean"] for s in stats], [s["std"] for s in stats]


def slope(x: Sequence[float], y: Sequence[float]) -> float:
    """Least-squares slope of y against x."""
    n = len(x)
    mx, my = sum(x) / n, sum(y) / n
    sxx = sum((a - mx) ** 2 for a in x)
    return sum((a - mx) * (b - my) for a, b in zip(x, y)) / sxx if sxx else float("nan")


def fmt_pct(s: dict) -> str:
    return "n/a" if s["mean"] is None else f"{s['mean']:.2%} +- {s['std']:.2%}"


def fmt(s: dict, digits: int = 3) -> str:
    return "n/a" if s["mean"] is None else f"{s['mean']:#.{digits}g} +- {s['std']:#.{digits}g}"
