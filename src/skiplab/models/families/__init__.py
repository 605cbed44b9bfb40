"""The model families, one module each: its frozen config dataclass, its `build(cfg, name)`, the block it brings
where the interface's kinds do not cover it (highway's `GatedBlock`, kind "gated"; DenseNet's `ConcatBlock`,
"concat"; the ODE-Net's torchdiffeq `ODEBlock`, a "continuous" `StepBlock`), its PRESETS, and at its bottom the
`register_presets` call that puts them in the registry. Importing this package registers every preset;
`skiplab.models` does so, and nothing else in `skiplab.models` imports a family.

resnet_cifar (He et al.'s CIFAR ResNets, pre-activation and plain twins, 1D variants), vgg, mlp, odenet (Chen et
al.'s ODE-Net and RK-Net), highway, densenet, linked (plain chains with long-range identity links), revnet,
lipschitz (ResNets under an operator-norm budget), inception and mbconv (the scalable families). A family may
build on another (linked and lipschitz on resnet_cifar), never the other way."""

from . import densenet, highway, inception, linked, lipschitz, mbconv, mlp, odenet, resnet_cifar, revnet, vgg

__all__ = ["densenet", "highway", "inception", "linked", "lipschitz", "mbconv", "mlp", "odenet", "resnet_cifar",
           "revnet", "vgg"]
