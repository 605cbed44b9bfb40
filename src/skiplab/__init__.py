"""skiplab: a laboratory for residual networks.

Layers (imports only go down): cli -> claims -> report -> probes/attacks/pruning/physics -> train -> models, data.
"""

__version__ = "0.1.0"
