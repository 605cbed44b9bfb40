"""Probes: pure functions of (model, batch) that dissect a `Net` through its one interface (DESIGN.md). They never
write files, plot or print, and leave the model as they found it; each records the batch-norm mode it used."""

from .gradients import GradientSignalCallback, gradient_signal
from .jacobian import (BlockSpectra, SingularValues, block_eigenvalues, block_jacobian, end_to_end_singular_values,
                       spectrum_summary)

__all__ = ["BlockSpectra", "GradientSignalCallback", "SingularValues", "block_eigenvalues", "block_jacobian",
           "end_to_end_singular_values", "gradient_signal", "spectrum_summary"]
