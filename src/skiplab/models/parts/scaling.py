"""Depth, width and input-resolution multipliers and EfficientNet's compound scaling (Tan & Le 2019, Sec. 3.3), shared
by the scalable families (models/families/inception.py and mbconv.py), and the skeleton they share: a CIFAR-sized
`resample -> stem conv -> stages of blocks -> head` net.

Compound scaling with coefficient phi multiplies depth by alpha^phi, width by beta^phi and resolution by gamma^phi;
with alpha * beta^2 * gamma^2 ~ 2, FLOPs grow by ~2^phi (FLOPs of a conv net grow ~linearly with depth and
quadratically with width and resolution). The plain multipliers `depth_mult`, `width_mult`, `resolution_mult`
scale one dimension alone (and compose with phi).

Resolution is real: the stem first resamples the input (N, C, H, W) to (N, C, r, r) (bilinear, antialiased when
shrinking), so a lower resolution *loses* detail and a higher one (up to the data's own size) keeps more of it.
Render data at the highest resolution any model uses; above the data's size resampling only interpolates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ...config import option
from ...errors import ConfigError
from ..blocks import Block
from .layers import Normalize
from ..net import Net


@dataclass(frozen=True)
class Scaling:
    """The scaling fields every scalable family's config has (its config subclasses this)."""

    depth_mult: float = option(1.0, "multiplies every stage's block count (rounded up, as EfficientNet)")
    width_mult: float = option(1.0, "multiplies every width (rounded to the nearest integer)")
    resolution_mult: float = option(1.0, "multiplies the input resolution the stem resamples to")
    phi: float = option(0.0, "compound coefficient: depth x alpha^phi, width x beta^phi, resolution x gamma^phi")
    alpha: float = option(1.2, "compound depth base (EfficientNet's grid-searched 1.2)")
    beta: float = option(1.1, "compound width base (EfficientNet's 1.1)")
    gamma: float = option(1.15, "compound resolution base (EfficientNet's 1.15)")
    resolution: int = option(0, "base input resolution before the multipliers; 0: the data's own size")
    in_channels: int = option(3, "input channels (from the data)")
    num_classes: int = option(10, "output classes (from the data)")
    input_size: tuple[int, int] = option((32, 32), "input height and width (from the data)")
    input_mean: tuple[float, ...] | None = option(None, "per-channel input mean for the normalization layer")
    input_std: tuple[float, ...] | None = option(None, "per-channel input std for the normalization layer")

    def __post_init__(self) -> None:
        for name in ("depth_mult", "width_mult", "resolution_mult", "alpha", "beta", "gamma"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.resolution < 0 or len(self.input_size) != 2:
            raise ConfigError("resolution must be >= 0 (0: the data's size) and input_size (height, width)")
        if self.effective_resolution < 4:
            raise ConfigError(f"the scaled input resolution {self.effective_resolution} is below 4 pixels")

    @property
    def depth_factor(self) -> float:
        return self.depth_mult * self.alpha ** self.phi

    @property
    def width_factor(self) -> float:
        return self.width_mult * self.beta ** self.phi

    @property
    def effective_resolution(self) -> int:
        """The side r of the (r, r) input the stem convolves."""
        base = self.resolution or max(self.input_size)
        return max(1, round(base * self.resolution_mult * self.gamma ** self.phi))


def scaled_blocks(counts: Sequence[int], factor: float) -> list[int]:
    """Blocks per stage: ceil(n * factor) (EfficientNet's round_repeats), at least 1. The 1e-9 keeps a product
    that is an integer up to float rounding (e.g. 3 * 1.2 ** log(2)/log(1.2)) from rounding up past it."""
    return [max(1, math.ceil(n * factor - 1e-9)) for n in counts]


def scaled_widths(widths: Sequence[int], factor: float) -> list[int]:
    return [max(1, round(w * factor)) for w in widths]


class Resample(nn.Module):
    """(N, C, H, W) -> (N, C, r, r): bilinear, antialiased (area-weighted) when shrinking; identity at r = H = W."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) == (self.size, self.size):
            return x
        shrink = self.size < max(x.shape[-2:])
        return F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=shrink)

    def extra_repr(self) -> str:
        return f"size={self.size}"


def conv_bn_act(c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1,
                act: Callable[[], nn.Module] | None = nn.ReLU) -> list[nn.Module]:
    """conv (no bias) -> batch norm -> activation (none if `act` is None), 'same' padding."""
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False),
                               nn.BatchNorm2d(c_out)]
    return layers + ([act()] if act is not None else [])


def build_skeleton(cfg: Scaling, name: str, widths: Sequence[int], counts: Sequence[int],
                   strides: Sequence[int], make_block: Callable[[int, int, int], Block],
                   act: Callable[[], nn.Module], head_width: int = 0) -> Net:
    """The shared skeleton: resample to r, 3x3 stem conv-BN-act to widths[0], stages of `make_block(c_in, c_out,
    stride)` (the first block of stage i has stride strides[i]), then [1x1 conv-BN-act to head_width], global
    average pool, linear. `widths` and `counts` are already scaled."""
    stem = nn.Sequential(Resample(cfg.effective_resolution), *conv_bn_act(cfg.in_channels, widths[0], 3, act=act))
    stages, c = [], widths[0]
    for w, n, s in zip(widths, counts, strides):
        stage = []
        for j in range(n):
            stage.append(make_block(c, w, s if j == 0 else 1))
            c = w
        stages.append(stage)
    head: list[nn.Module] = []
    if head_width:
        head += conv_bn_act(c, head_width, 1, act=act)
        c = head_width
    head += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, cfg.num_classes)]
    net = Net(cfg, Normalize(cfg.input_mean, cfg.input_std, cfg.in_channels, 2), stem, stages, nn.Sequential(*head),
              name)
    for m in net.modules():  # He init for convs (fan_out, as torchvision's and EfficientNet's reference code)
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    return net
