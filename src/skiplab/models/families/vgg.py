"""VGG-style CIFAR nets with batch norm (Simonyan & Zisserman 2015, as adapted to CIFAR): stacks of 3x3
conv-norm-ReLU layers, max-pooling between stages, global pooling and one linear layer. Every layer is a plain
block, so VGG nets are probed, lesioned and pruned through the same interface as ResNets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from torch import nn

from ...config import option
from ...errors import ConfigError
from ..blocks import PlainBlock
from ..parts.layers import ACTIVATIONS, Normalize, conv, init_weights, norm
from ..net import Net
from ..registry import register_presets

# Conv widths per stage for each depth (the "A", "B", "D", "E" columns of Simonyan & Zisserman, Table 1).
STAGES = {
    11: ((64,), (128,), (256, 256), (512, 512), (512, 512)),
    13: ((64, 64), (128, 128), (256, 256), (512, 512), (512, 512)),
    16: ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),
    19: ((64, 64), (128, 128), (256,) * 4, (512,) * 4, (512,) * 4),
}


@dataclass(frozen=True)
class VGGConfig:
    depth: Literal[11, 13, 16, 19] = option(16, "VGG depth: 11, 13, 16 or 19 weighted layers (with the head)")
    width_mult: float = option(1.0, "multiplies every width")
    norm: Literal["batch", "none"] = option("batch", "normalization after each conv")
    activation: Literal["relu", "gelu", "tanh", "identity"] = option("relu", "nonlinearity")
    in_channels: int = option(3, "input channels (from the data)")
    num_classes: int = option(10, "output classes (from the data)")
    input_size: tuple[int, int] = option((32, 32), "input height and width (from the data)")
    input_mean: tuple[float, ...] | None = option(None, "per-channel input mean")
    input_std: tuple[float, ...] | None = option(None, "per-channel input std")

    def __post_init__(self) -> None:
        if self.width_mult <= 0:
            raise ConfigError("width_mult must be > 0")


def build_vgg(cfg: VGGConfig, name: str = "") -> Net:
    act = ACTIVATIONS[cfg.activation]
    size = min(cfg.input_size)
    stages, c_in = [], cfg.in_channels
    for widths in STAGES[cfg.depth]:
        blocks = []
        for j, w in enumerate(widths):
            c_out = max(1, round(w * cfg.width_mult))
            # Pool at the end of a stage while the map is at least 2 px, so small inputs (8x8 digits) still fit.
            pool = j == len(widths) - 1 and size >= 2
            layers = [conv(2, c_in, c_out, 3, bias=cfg.norm == "none"), norm(cfg.norm, 2, c_out), act()]
            if pool:
                layers.append(nn.MaxPool2d(2))
                size //= 2
            blocks.append(PlainBlock(nn.Sequential(*layers), shape_preserving=(c_in == c_out and not pool)))
            c_in = c_out
        stages.append(blocks)
    # The first conv becomes the stem's job in ResNets; here it is the first plain block, so the stem is empty.
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, cfg.num_classes))
    net = Net(cfg, Normalize(cfg.input_mean, cfg.input_std, cfg.in_channels, 2), nn.Identity(), stages, head, name)
    init_weights(net)
    return net


PRESETS = {f"vgg{d}": (VGGConfig(depth=d), f"VGG-{d} with batch norm, CIFAR head") for d in (11, 16)}

register_presets(PRESETS, build_vgg)
