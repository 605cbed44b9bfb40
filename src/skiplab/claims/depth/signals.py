"""Reading the gradient-signal records a claims run persisted (probes/gradients.json)."""

from __future__ import annotations

import math
from typing import Any


def layer_signals(record: dict[str, Any]) -> list[float]:
    """g_l = ||dL/dx_l|| * ||x_l|| for the stem output and every block output, in forward order."""
    return [float(v) for v in record["signal"]["signal"]]


def log_first_over_last(record: dict[str, Any]) -> float:
    """log(g_first / g_last): negative when the early-layer signal is smaller (vanishing), positive when larger."""
    g = layer_signals(record)
    if g[0] <= 0 or g[-1] <= 0 or not all(math.isfinite(v) for v in (g[0], g[-1])):
        return float("nan")
    return math.log(g[0] / g[-1])


def at_epoch(records: list[dict[str, Any]], epoch: int) -> dict[str, Any] | None:
    return next((r for r in records if r["epoch"] == epoch), None)
