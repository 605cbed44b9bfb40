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

from .flop_count import flops  # noqa: E402  (`skiplab.flops(model, input_shape)`)
from .models.wrap import wrap  # noqa: E402  (`skiplab.wrap(model, blocks=[...])`)

__all__ = ["flops", "wrap", "__version__"]
