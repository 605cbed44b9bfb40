"""DenseNet and DenseNet-BC for CIFAR (Huang, Liu, van der Maaten & Weinberger 2017, "Densely Connected
Convolutional Networks", Sec. 3 and 4.2): a 3x3 stem conv, three dense blocks of n layers at 32, 16 and 8 px,
transitions between them, BN-ReLU-global pool-linear head. All convs are pre-activation (BN-ReLU-conv).

- A dense layer (a `ConcatBlock`, kind "concat") maps x (N, C, H, W) to cat(x, F(x)) (N, C + k, H, W): F is
  BN-ReLU-3x3 conv to k = growth channels, or with `bottleneck` BN-ReLU-1x1 conv to 4k, BN-ReLU-3x3 conv to k.
- A transition (BN-ReLU-1x1 conv to floor(compression * C), 2x2 average pool) is a plain, non-lesionable block,
  the FIRST block of stages 1 and 2 (as ResNets downsample in the first block of a stage), so every block of
  stage s outputs at stage s's resolution. Stage 0's dense block is `stages.0.blocks.0..n-1`, stage s > 0's is
  `stages.s.blocks.1..n`.
- Depth L counts weighted layers: 3n dense layers (x2 with bottleneck) + 2 transitions + stem + head, so
  n = (L - 4) / 3, or (L - 4) / 6 with bottleneck. The stem has 16 channels, or 2k for DenseNet-BC (Sec. 4.2).
Not included: the paper's dropout (0.2, used only without data augmentation) -- a training choice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import networkx as nx
import torch
from torch import nn

from ...config import option
from ...errors import ConfigError
from ..blocks import GATES, Block, PlainBlock
from ..parts.layers import Normalize, conv, init_weights
from ..net import Net
from ..registry import register_presets

BOTTLENECK = 4  # the 1x1 conv's width in growth rates (Huang et al. Sec. 3, "Bottleneck layers")


class ConcatBlock(Block):
    """A dense layer: x (N, C, *s) -> cat(x, branch(x)) (N, C + growth, *s) along channels.

    Gate "skip" keeps the gradient through the carried x only (new features detached), "branch" through the new
    features only (x detached inside the concatenation; the branch still sees x). Values are unchanged.
    """

    kind = "concat"

    def __init__(self, branch: nn.Module, growth: int) -> None:
        super().__init__()
        self.branch, self.growth = branch, growth

    def forward(self, x: torch.Tensor, gate: str | None = None) -> torch.Tensor:
        f, carried = self.branch(x), x
        if gate == "skip":
            f = f.detach()
        elif gate == "branch":
            carried = x.detach()
        elif gate is not None:
            raise ValueError(f"gate must be one of {GATES}, got {gate!r}")
        return torch.cat([carried, f], dim=1)

    def lesion(self, x: torch.Tensor) -> torch.Tensor:
        """cat(x, 0): later layers see zeros where this layer's features were; every shape is kept."""
        return torch.cat([x, x.new_zeros((x.shape[0], self.growth, *x.shape[2:]))], dim=1)

    def add_to_graph(self, g: nx.DiGraph, name: str, src: str) -> str:
        """Feature-level graph: `{name}.concat` gets an edge from every tensor it is the concatenation of (the
        dense block's input and each earlier layer's new features `.branch`), not one from the previous concat.
        So within a dense block every layer's features reach every later layer and the block's output in one
        hop, as in Huang et al.'s Fig. 1; the number of input-output paths is the same 2^n as the chained view."""
        # a concat node's in-edges come exactly from the tensors it concatenates
        parts = list(g.predecessors(src)) if g.nodes[src].get("op") == "concat" else [src]
        g.add_node(f"{name}.branch", kind=self.kind, block=name, op="branch")
        g.add_edge(src, f"{name}.branch", path="branch")
        out = f"{name}.concat"
        g.add_node(out, kind=self.kind, block=name, op="concat")
        for p in parts:
            g.add_edge(p, out, path="skip")
        g.add_edge(f"{name}.branch", out, path="branch")
        return out

    def extra_repr(self) -> str:
        return f"growth={self.growth}"


@dataclass(frozen=True)
class DenseNetConfig:
    depth: int = option(40, "weighted layers L: 3n+4 plain dense layers, 6n+4 with bottleneck")
    growth: int = option(12, "growth rate k: channels each dense layer adds")
    bottleneck: bool = option(False, "1x1 conv to 4k channels before each 3x3 conv (the B of DenseNet-BC)")
    compression: float = option(1.0, "theta: a transition keeps floor(theta * C) channels (the C of DenseNet-BC)")
    stem_width: int = option(0, "channels of the stem conv; 0 for the paper's: 16, or 2k for DenseNet-BC")
    in_channels: int = option(3, "input channels (from the data)")
    num_classes: int = option(10, "output classes (from the data)")
    input_size: tuple[int, int] = option((32, 32), "input height and width (from the data)")
    input_mean: tuple[float, ...] | None = option(None, "per-channel input mean for the normalization layer")
    input_std: tuple[float, ...] | None = option(None, "per-channel input std for the normalization layer")

    def __post_init__(self) -> None:
        step = 6 if self.bottleneck else 3
        if self.depth < step + 4 or (self.depth - 4) % step:
            lower = max(step + 4, (self.depth - 4) // step * step + 4)
            raise ConfigError(f"depth {self.depth} breaks the {step}n+4 rule (bottleneck={self.bottleneck}); "
                              f"nearest valid: {lower}, {lower + step}")
        if self.growth < 1 or self.stem_width < 0:
            raise ConfigError("growth must be >= 1 and stem_width >= 0")
        if not 0 < self.compression <= 1:
            raise ConfigError(f"compression must be in (0, 1], got {self.compression}")

    @property
    def layers_per_block(self) -> int:
        return (self.depth - 4) // (6 if self.bottleneck else 3)


def _bn_relu_conv(c_in: int, c_out: int, kernel: int) -> list[nn.Module]:
    return [nn.BatchNorm2d(c_in), nn.ReLU(), conv(2, c_in, c_out, kernel)]


def _dense_layer(cfg: DenseNetConfig, c_in: int) -> ConcatBlock:
    k = cfg.growth
    if cfg.bottleneck:
        layers = _bn_relu_conv(c_in, BOTTLENECK * k, 1) + _bn_relu_conv(BOTTLENECK * k, k, 3)
    else:
        layers = _bn_relu_conv(c_in, k, 3)
    return ConcatBlock(nn.Sequential(*layers), k)


def build_densenet(cfg: DenseNetConfig, name: str = "") -> Net:
    c = cfg.stem_width or (2 * cfg.growth if cfg.bottleneck else 16)
    stem = conv(2, cfg.in_channels, c, 3)
    stages: list[list[Block]] = []
    for s in range(3):
        blocks: list[Block] = []
        if s > 0:  # transition: (N, C, H, W) -> (N, floor(theta C), H/2, W/2)
            c_out = math.floor(cfg.compression * c)
            blocks.append(PlainBlock(nn.Sequential(*_bn_relu_conv(c, c_out, 1), nn.AvgPool2d(2)),
                                     shape_preserving=False))
            c = c_out
        for _ in range(cfg.layers_per_block):
            blocks.append(_dense_layer(cfg, c))
            c += cfg.growth
        stages.append(blocks)
    head = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(c, cfg.num_classes))
    net = Net(cfg, Normalize(cfg.input_mean, cfg.input_std, cfg.in_channels, 2), stem, stages, head, name)
    init_weights(net)  # He init for the convs, as Huang et al. (following He et al. 2015)
    return net


PRESETS = {
    "densenet40": (DenseNetConfig(depth=40, growth=12), "DenseNet (L=40, k=12) of Huang et al., ~1.0M params"),
    "densenet-bc100": (DenseNetConfig(depth=100, growth=12, bottleneck=True, compression=0.5),
                       "DenseNet-BC (L=100, k=12) of Huang et al., ~0.8M params"),
    "densenet-bc40": (DenseNetConfig(depth=40, growth=12, bottleneck=True, compression=0.5),
                      "small DenseNet-BC (L=40, k=12) for quick CPU claims"),
}

register_presets(PRESETS, build_densenet)
