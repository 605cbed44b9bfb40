"""An EfficientNet-style family for CIFAR-sized inputs (Tan & Le 2019, "EfficientNet", Sec. 4 and Table 1): MBConv
blocks (Sandler et al. 2018's inverted residual with Hu et al. 2018's squeeze-and-excitation, swish activations,
optional stochastic depth of Huang et al. 2016) in a small skeleton, or -- the same skeleton with `block="basic"`
-- He et al.'s basic residual blocks, so "MBConv vs basic blocks" changes the blocks and nothing else.

MBConv, x (N, C_in, H, W) -> (N, C_out, H/s, W/s):
  1x1 expand to e*C_in (conv-BN-swish; skipped when e = 1) -> kxk depthwise, stride s (conv-BN-swish)
  -> squeeze-excite (global pool, 1x1 to C_in*se_ratio, swish, 1x1, sigmoid; rescales channels)
  -> 1x1 project to C_out (conv-BN, no activation: a linear bottleneck) -> stochastic depth.
Basic: 3x3 conv-BN-ReLU -> 3x3 conv-BN (stride s in the first conv), ReLU after the sum (He et al. 2016).

Skip rule (EfficientNet's, for both blocks): a block whose input and output shapes match adds its input ("additive"
for MBConv: x + h * F(x), no activation after the sum; "additive-post" for basic); the first block of a stage,
which changes the shape, has no shortcut ("plain", not lesionable). Stochastic depth drops a skip block's branch
per example with probability drop_path * l / L (block l of L, as EfficientNet's drop_connect_rate) in training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from ...config import option
from ...errors import ConfigError
from ..blocks import Block, PlainBlock, ResidualBlock
from ..parts.layers import ResidualScale
from ..net import Net
from ..parts.scaling import Scaling, build_skeleton, conv_bn_act, scaled_blocks, scaled_widths
from ..registry import register_presets


@dataclass(frozen=True)
class MBConvConfig(Scaling):
    block: Literal["mbconv", "basic"] = option("mbconv", "MBConv blocks, or He et al.'s basic residual blocks")
    widths: tuple[int, ...] = option((16, 24, 40), "output channels of each stage (before width scaling)")
    blocks: tuple[int, ...] = option((1, 2, 2), "blocks per stage (before depth scaling)")
    strides: tuple[int, ...] = option((1, 2, 2), "stride of each stage's first block")
    expansion: tuple[int, ...] = option((1, 6, 6), "MBConv expansion ratio per stage (EfficientNet-B0: 1, then 6)")
    kernel: int = option(3, "depthwise kernel size (odd)")
    se_ratio: float = option(0.25, "squeeze-excite width as a fraction of the block's input channels (0: none)")
    drop_path: float = option(0.0, "stochastic depth: the last skip block's drop probability (EfficientNet 0.2)")
    head_mult: float = option(4.0, "1x1 head conv to head_mult x the last width before pooling (0: none)")
    h: float = option(1.0, "residual scale of the branch")

    def __post_init__(self) -> None:
        super().__post_init__()
        n = len(self.widths)
        if n == 0 or not len(self.blocks) == len(self.strides) == len(self.expansion) == n:
            raise ConfigError("widths, blocks, strides and expansion need one entry per stage")
        if min(self.blocks) < 1 or min(self.expansion) < 1 or min(self.strides) < 1:
            raise ConfigError("blocks, expansion and strides must be >= 1")
        if self.kernel < 1 or self.kernel % 2 == 0:
            raise ConfigError(f"kernel must be odd and >= 1, got {self.kernel}")
        if not 0 <= self.drop_path < 1 or not 0 <= self.se_ratio <= 1 or self.head_mult < 0:
            raise ConfigError("drop_path must be in [0, 1), se_ratio in [0, 1], head_mult >= 0")


class SqueezeExcite(nn.Module):
    """x (N, C, H, W) -> x * sigmoid(W2 swish(W1 mean_hw(x))) (N, C, H, W) (Hu et al. 2018)."""

    def __init__(self, channels: int, squeezed: int) -> None:
        super().__init__()
        self.reduce, self.expand = nn.Conv2d(channels, squeezed, 1), nn.Conv2d(squeezed, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)
        return x * torch.sigmoid(self.expand(nn.functional.silu(self.reduce(s))))


class DropPath(nn.Module):
    """Stochastic depth: in training, zero the branch of each example with probability p and scale survivors by
    1/(1-p) (so its expectation is unchanged); the identity in eval mode."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        keep = torch.rand((x.shape[0],) + (1,) * (x.dim() - 1), device=x.device) >= self.p
        return x * keep.to(x.dtype) / (1 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p:g}"


def mbconv_branch(cfg: MBConvConfig, c_in: int, c_out: int, stride: int, expansion: int) -> list[nn.Module]:
    c_exp = c_in * expansion
    layers: list[nn.Module] = conv_bn_act(c_in, c_exp, 1, act=nn.SiLU) if expansion != 1 else []
    layers += conv_bn_act(c_exp, c_exp, cfg.kernel, stride, groups=c_exp, act=nn.SiLU)
    if cfg.se_ratio > 0:
        layers.append(SqueezeExcite(c_exp, max(1, int(c_in * cfg.se_ratio))))
    return layers + conv_bn_act(c_exp, c_out, 1, act=None)


def basic_branch(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
    return conv_bn_act(c_in, c_out, 3, stride) + conv_bn_act(c_out, c_out, 3, act=None)


def build_mbconv(cfg: MBConvConfig, name: str = "") -> Net:
    widths = scaled_widths(cfg.widths, cfg.width_factor)
    counts = scaled_blocks(cfg.blocks, cfg.depth_factor)
    stage_of = [i for i, n in enumerate(counts) for _ in range(n)]  # the stage of every block, in order
    total, made = len(stage_of), [0]

    def make(c_in: int, c_out: int, stride: int) -> Block:
        index = made[0]
        made[0] += 1
        if cfg.block == "mbconv":
            layers = mbconv_branch(cfg, c_in, c_out, stride, cfg.expansion[stage_of[index]])
            post = None
        else:
            layers, post = basic_branch(c_in, c_out, stride), nn.ReLU()
        if c_in != c_out or stride != 1:  # EfficientNet's rule: no shortcut where the shape changes
            return PlainBlock(nn.Sequential(*layers), post, shape_preserving=False)
        if cfg.drop_path > 0:
            layers.append(DropPath(cfg.drop_path * index / total))
        return ResidualBlock(nn.Sequential(*layers), nn.Identity(), ResidualScale(cfg.h, False), post)

    act = nn.SiLU if cfg.block == "mbconv" else nn.ReLU
    return build_skeleton(cfg, name, widths, counts, cfg.strides, make, act, round(cfg.head_mult * widths[-1]))


PRESETS = {
    "effnet": (MBConvConfig(), "EfficientNet-style net of MBConv blocks (1/2/2 blocks, widths 16/24/40), scalable"),
    "effnet-basic": (MBConvConfig(block="basic"), "the same skeleton with He et al.'s basic residual blocks"),
}

register_presets(PRESETS, build_mbconv)
