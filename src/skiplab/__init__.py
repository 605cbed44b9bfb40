"""skiplab: a laboratory for residual networks.

Layers (imports only go down, tests/test_imports.py): cli -> claims -> report -> probes/attacks/pruning/physics
-> train, guards -> models, data.

Your own model: `skiplab.wrap` turns any PyTorch module whose residual blocks you name into a `Net`, so the probes
and attacks run on it (stem = the modules before the first block, head = those after; parameters shared):

    net = skiplab.wrap(resnet, blocks=["layer1.0", "layer1.1", "layer2.0", "layer2.1"], example=x)
    net.forward_features(x, skip={"stages.1.blocks.0"})   # layer2.0 deleted: relu(downsample(h))
    feats, inter = net.forward_intermediates(x, indices=2)  # timm's signature: the last 2 block outputs
"""

__version__ = "0.1.0"

from typing import Any

__all__ = ["flops", "wrap", "__version__"]


def __getattr__(name: str) -> Any:
    # Loaded on first use, so `import skiplab` (which the `skiplab` command does first) stays instant and a Ctrl-C
    # while torch loads reaches the command line's handler (skiplab.cli) instead of printing a traceback.
    if name == "flops":  # `skiplab.flops(model, input_shape)`
        from .flop_count import flops
        return flops
    if name == "wrap":  # `skiplab.wrap(model, blocks=[...])`
        from .models.wrap import wrap
        return wrap
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
