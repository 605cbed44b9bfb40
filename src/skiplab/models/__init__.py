"""Model families and their registry. Every model is a `Net` with the dissection interface of DESIGN.md.

The interface, here: `net.py` (`Net`, `Stage`), `blocks.py` (the block kinds every family shares: additive,
additive-post, plain, continuous), `registry.py` and `batchnorm.py` (the batch-norm mode policy of single-example
probes), `wrap.py` (a user's own model as a `Net`). `parts/` holds what families are built from, `families/` one
module per family, each registering its own presets; importing `families` below registers them all."""

from .batchnorm import calibrate_batchnorm, has_batchnorm
from .blocks import Block, NotLesionable, PlainBlock, ResidualBlock
from .net import Net, Stage
from .wrap import WrappedBlock, WrappedNet, wrap
from .registry import build_preset, create_model, describe_models, list_models, model_config, register_model
from . import families  # noqa: F401  (importing it registers every family's presets)
from .families.mlp import MLPConfig, build_mlp
from .families.resnet_cifar import ResNetConfig, build_resnet
from .families.vgg import VGGConfig, build_vgg

__all__ = [
    "Block", "MLPConfig", "Net", "NotLesionable", "PlainBlock", "ResNetConfig", "ResidualBlock", "Stage",
    "VGGConfig", "build_mlp", "build_preset", "build_resnet", "build_vgg", "calibrate_batchnorm", "create_model",
    "describe_models", "has_batchnorm", "list_models", "model_config", "register_model", "wrap", "WrappedBlock",
    "WrappedNet",
]
