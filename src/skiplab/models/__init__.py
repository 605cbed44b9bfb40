"""Model families and their registry. Every model is a `Net` with the dissection interface of DESIGN.md."""

from .batchnorm import calibrate_batchnorm, has_batchnorm
from .blocks import Block, NotLesionable, PlainBlock, ResidualBlock
from .mlp import MLPConfig, build_mlp
from .net import Net, Stage
from .registry import create_model, describe_models, list_models, model_config, register_model
from .resnet_cifar import ResNetConfig, build_resnet
from .vgg import VGGConfig, build_vgg
from . import mlp as _mlp, odenet as _odenet, resnet_cifar as _resnet, vgg as _vgg
from . import densenet as _densenet, highway as _highway, linked as _linked
from . import revnet as _revnet
from . import lipschitz as _lipschitz
from . import inception as _inception, mbconv as _mbconv

for _family, _build in ((_resnet, build_resnet), (_vgg, build_vgg), (_mlp, build_mlp),
                        (_odenet, _odenet.build_odenet), (_highway, _highway.build_highway),
                        (_densenet, _densenet.build_densenet), (_linked, _linked.build_linked),
                        (_revnet, _revnet.build_revnet), (_lipschitz, _lipschitz.build_lipresnet),
                        (_inception, _inception.build_inception), (_mbconv, _mbconv.build_mbconv)):
    for _name, (_cfg, _desc) in _family.PRESETS.items():
        register_model(_name, _cfg, _build, _desc)

__all__ = [
    "Block", "MLPConfig", "Net", "NotLesionable", "PlainBlock", "ResNetConfig", "ResidualBlock", "Stage",
    "VGGConfig", "build_mlp", "build_resnet", "build_vgg", "calibrate_batchnorm", "create_model",
    "describe_models", "has_batchnorm", "list_models", "model_config", "register_model",
]
