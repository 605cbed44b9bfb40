"""Sweeps: a grid of config overrides over seeds, trained through the claims engine's executor (local processes or
a Ray cluster) and collected into one table and one plot. `skiplab sweep` on the command line; `sweep()` here."""

from .grid import Axis, parse_axis, points
from .run import SweepResult, sweep

__all__ = ["Axis", "SweepResult", "parse_axis", "points", "sweep"]
