"""Probes: pure functions of (model, batch) that dissect a `Net` through its one interface (DESIGN.md). They never
write files, plot or print, and leave the model as they found it; each records the batch-norm mode it used."""

from .alignment import AlignmentCallback, alignment, cosine_rows, identity_alignment
from .gradients import GradientSignalCallback, gradient_signal
from .jacobian import (BlockSpectra, SingularValues, block_eigenvalues, block_jacobian, end_to_end_singular_values,
                       spectrum_summary)
from .readout import linear_readout, readout

__all__ = ["AlignmentCallback", "BlockSpectra", "GradientSignalCallback", "SingularValues", "alignment",
           "block_eigenvalues", "block_jacobian", "cosine_rows", "end_to_end_singular_values", "gradient_signal",
           "identity_alignment", "linear_readout", "readout", "spectrum_summary"]
from .lesions import lesion_study, lesioned_features, naive_lesioned_features  # noqa: E402
__all__ += ["lesion_study", "lesioned_features", "naive_lesioned_features"]
