"""An Inception-style family for CIFAR-sized inputs (Szegedy et al. 2015 "Going deeper with convolutions"; the 5x5
as two 3x3 convs of Szegedy et al. 2016 "Rethinking the Inception Architecture", Fig. 5), optionally with the
residual add of Inception-ResNet (Szegedy et al. 2017, "Inception-v4, Inception-ResNet", Fig. 10/16).

An Inception block maps x (N, C_in, H, W) through four parallel branches, each to ~C_out/4 channels:
  1x1 conv | 1x1 -> 3x3 | 1x1 -> 3x3 -> 3x3 (a 5x5 receptive field) | 3x3 average pool -> 1x1
and concatenates them to (N, C_out, H/s, W/s) (each conv is conv-BN-ReLU; the reducing 1x1s have half the
branch's width). So one block sees 1x1, 3x3 and 5x5 neighbourhoods at once: width across scales, not depth.

- `residual=False` ("plain" kind): the concatenation is the block's output.
- `residual=True` ("additive-post" kind, as Inception-ResNet): relu(shortcut(x) + h * BN(1x1 conv(concat))), the
  1x1 conv mapping the concatenation back to C_out; the shortcut is the identity, or a 1x1 conv-BN projection
  (option B) where the block changes shape. Deleting such a block leaves relu(shortcut(x)).
The first block of stages 1 and 2 halves the resolution (stride 2 in every branch's last conv and in the pool).
Depth, width and resolution scale through the `Scaling` fields (models/parts/scaling.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ...config import option
from ...errors import ConfigError
from ..blocks import Block, PlainBlock, ResidualBlock
from ..parts.layers import ResidualScale, shortcut
from ..net import Net
from ..parts.scaling import Scaling, build_skeleton, conv_bn_act, scaled_blocks, scaled_widths
from ..registry import register_presets


@dataclass(frozen=True)
class InceptionConfig(Scaling):
    widths: tuple[int, ...] = option((16, 32, 64), "output channels of each stage's blocks (before width scaling)")
    blocks: tuple[int, ...] = option((1, 1, 1), "Inception blocks per stage (before depth scaling)")
    residual: bool = option(True, "add the Inception-ResNet shortcut (kind additive-post) or not (kind plain)")
    h: float = option(1.0, "residual scale of the branch (Inception-ResNet scales by 0.1-0.3 at large widths)")

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.widths or len(self.widths) != len(self.blocks) or min(self.blocks) < 1:
            raise ConfigError(f"widths {self.widths} and blocks {self.blocks} need one entry per stage, blocks >= 1")
        if min(scaled_widths(self.widths, self.width_factor)) < 4:
            raise ConfigError(f"width_mult {self.width_mult} leaves a stage under 4 channels (one per branch)")


def branch_widths(c_out: int) -> tuple[int, int, int, int]:
    """Channels of the 1x1, 3x3, 5x5 and pool branches: c_out // 4 each, the remainder to the 3x3 branch."""
    q = c_out // 4
    return q, c_out - 3 * q, q, q


class InceptionMix(nn.Module):
    """x (N, C_in, H, W) -> cat of the four branches (N, C_out, H/stride, W/stride)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        b1, b3, b5, bp = branch_widths(c_out)
        r3, r5 = max(1, b3 // 2), max(1, b5 // 2)
        self.b1 = nn.Sequential(*conv_bn_act(c_in, b1, 1, stride))
        self.b3 = nn.Sequential(*conv_bn_act(c_in, r3, 1), *conv_bn_act(r3, b3, 3, stride))
        self.b5 = nn.Sequential(*conv_bn_act(c_in, r5, 1), *conv_bn_act(r5, b5, 3), *conv_bn_act(b5, b5, 3, stride))
        self.pool = nn.Sequential(nn.AvgPool2d(3, stride, 1, count_include_pad=False), *conv_bn_act(c_in, bp, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b1(x), self.b3(x), self.b5(x), self.pool(x)], dim=1)


def inception_block(cfg: InceptionConfig, c_in: int, c_out: int, stride: int) -> Block:
    mix = InceptionMix(c_in, c_out, stride)
    if not cfg.residual:
        return PlainBlock(mix, shape_preserving=(c_in == c_out and stride == 1))
    # Inception-ResNet: a linear 1x1 conv (+BN) after the concatenation, so the branch can take either sign
    branch = nn.Sequential(mix, *conv_bn_act(c_out, c_out, 1, act=None))
    return ResidualBlock(branch, shortcut("B", c_in, c_out, stride, 2, "batch"), ResidualScale(cfg.h, False),
                         post_activation=nn.ReLU())


def build_inception(cfg: InceptionConfig, name: str = "") -> Net:
    widths = scaled_widths(cfg.widths, cfg.width_factor)
    counts = scaled_blocks(cfg.blocks, cfg.depth_factor)
    strides = [1] + [2] * (len(widths) - 1)
    return build_skeleton(cfg, name, widths, counts, strides,
                          lambda c_in, c_out, s: inception_block(cfg, c_in, c_out, s), nn.ReLU)


PRESETS = {
    "inception": (InceptionConfig(), "Inception-ResNet-style net: one 4-branch block per stage, widths 16/32/64"),
    "inception-plain": (InceptionConfig(residual=False), "the same Inception net without the residual add"),
}

register_presets(PRESETS, build_inception)
