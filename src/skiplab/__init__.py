"""skiplab: a laboratory for residual networks.

Layers (imports only go down, tests/test_imports.py): cli -> claims -> report -> probes/attacks/pruning/physics
-> train, guards -> models, data.
"""

__version__ = "0.1.0"

from .flop_count import flops  # noqa: E402  (`skiplab.flops(model, input_shape)`)

__all__ = ["flops", "__version__"]
