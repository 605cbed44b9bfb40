"""reversible-memory: a RevNet reconstructs every block's input from its output, so activation memory is
constant in depth at a modest compute overhead. rule.py holds the claim, its thresholds and verdict; standard.py
the checks of the standard (float32) RevNet: gradient error against minibatch noise, and the training comparison;
measurement.py the scale, runs and measurement; revnet.py the memory and timing tools (also used by
benchmarks/revnet_memory.py); presentation.py the table and figures."""

from .measurement import budget, measure, runs
from .presentation import present
from .rule import CLAIM, verdict

__all__ = ["CLAIM", "budget", "measure", "present", "runs", "verdict"]
