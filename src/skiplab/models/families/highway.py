"""Highway networks (Srivastava, Greff & Schmidhuber 2015, "Training Very Deep Networks"): every block computes
y = T(x) * H(x) + (1 - T(x)) * x with a learned transform gate T(x) = sigmoid(W_T x + b_T), so the skip is gated
by the data, where a ResNet's is a fixed identity.

Two skeletons, both `Net`s with blocks of kind "gated":
- `HighwayConfig`: the CIFAR ResNet skeleton (stem conv, three stages of widths 16/32/64, global pool, linear
  head). H is the ResNet basic branch (conv-norm-act-conv-norm-act: the ReLU that a ResNet applies after the sum
  moves inside H, since a highway block adds nothing after the mix) or a single conv-norm-act (Srivastava et al.'s
  own layer). The carry (1 - T) * x needs x and H(x) of one shape, so the first block of each later stage is a
  *plain* transition: the same branch H with stride 2 and the new width, without a gate and not lesionable.
  Depth counts weighted layers as ResNets do (6n+2 basic, 3n+2 single; the gate convs are not counted, as
  Srivastava et al. count layers), so highway20/56 have the conv layers of resnet20/56 plus one gate per block.
- `HighwayMLPConfig`: a linear stem, `depth` gated blocks H = act(norm(W_H x + b_H)), a linear head.

Gate bias: Srivastava et al. (Sec. 2.2) initialize b_T negative ("e.g. -1, -3") so that every block starts
close to carrying its input; we take -2, the middle of that range, as the default `gate_bias`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import networkx as nx
import torch
from torch import nn

from ...config import option
from ...errors import ConfigError
from ..blocks import GATES, Block, PlainBlock
from ..parts.layers import ACTIVATIONS, Normalize, conv, init_weights, norm
from ..net import Net
from ..registry import register_presets


class GatedBlock(Block):
    """y = T * H(x) + (1 - T) * x, T = sigmoid(gate_layer(x)). Shapes: x, T, H(x), y all (N, C, *spatial) or (N, F).

    Gates route gradients, never values: "skip" keeps only the carry edge (T and H detached, so dy/dx = 1 - T);
    "branch" keeps everything but that edge (x detached in the carry term). The two Jacobians sum to the full one.
    """

    kind = "gated"

    def __init__(self, branch: nn.Module, gate_layer: nn.Module) -> None:
        super().__init__()
        self.branch, self.gate_layer = branch, gate_layer

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """The transform gate T(x), same shape as x; values in (0, 1) (0: carry x, 1: transform to H(x))."""
        return torch.sigmoid(self.gate_layer(x))

    def forward(self, x: torch.Tensor, gate: str | None = None) -> torch.Tensor:
        t, h, carried = self.gate(x), self.branch(x), x
        if gate == "skip":
            t, h = t.detach(), h.detach()
        elif gate == "branch":
            carried = x.detach()  # same values, so the output is bit-identical to the ungated one
        elif gate is not None:
            raise ValueError(f"gate must be one of {GATES}, got {gate!r}")
        return t * h + (1 - t) * carried

    def lesion(self, x: torch.Tensor) -> torch.Tensor:
        return x  # T = 0: the block only carries

    def increment(self, x: torch.Tensor) -> torch.Tensor:
        """T * (H(x) - x), so y = x + increment (up to rounding)."""
        return self.gate(x) * (self.branch(x) - x)

    def add_to_graph(self, g: nx.DiGraph, name: str, src: str) -> str:
        g.add_node(f"{name}.branch", kind=self.kind, block=name, op="branch")
        g.add_node(f"{name}.gate", kind=self.kind, block=name, op="gate")
        g.add_node(f"{name}.mix", kind=self.kind, block=name, op="mix")
        g.add_edge(src, f"{name}.branch", path="branch")
        g.add_edge(f"{name}.branch", f"{name}.mix", path="branch")
        g.add_edge(src, f"{name}.gate", path="gate")
        g.add_edge(f"{name}.gate", f"{name}.mix", path="gate")
        g.add_edge(src, f"{name}.mix", path="skip")
        return f"{name}.mix"


GATE_BIAS_HELP = ("initial transform-gate bias b_T; negative starts blocks near carrying x (Srivastava et al. "
                  "2015: -1 to -3)")


@dataclass(frozen=True)
class HighwayConfig:
    depth: int = option(20, "weighted layers: 6n+2 for basic branches, 3n+2 for single ones (gates not counted)")
    branch: Literal["basic", "single"] = option("basic", "H: the ResNet basic branch (two convs) or one conv")
    gate_bias: float = option(-2.0, GATE_BIAS_HELP)
    gate_kernel: int = option(3, "kernel of the gate conv (Srivastava et al.: the same receptive field as H)")
    widths: tuple[int, ...] = option((16, 32, 64), "channels of each stage (before the width multiplier)")
    width_mult: float = option(1.0, "multiplies every width")
    norm: Literal["batch", "none"] = option("batch", "normalization layer in H")
    activation: Literal["relu", "gelu", "tanh", "identity"] = option("relu", "nonlinearity of H")
    dims: Literal[1, 2] = option(2, "2 for images (N, C, H, W), 1 for sequences (N, C, L)")
    in_channels: int = option(3, "input channels (from the data)")
    num_classes: int = option(10, "output classes (from the data)")
    input_size: tuple[int, ...] = option((32, 32), "spatial input size (from the data)")
    input_mean: tuple[float, ...] | None = option(None, "per-channel input mean for the normalization layer")
    input_std: tuple[float, ...] | None = option(None, "per-channel input std for the normalization layer")

    def __post_init__(self) -> None:
        step = len(self.widths) * (2 if self.branch == "basic" else 1)
        if self.depth < step + 2 or (self.depth - 2) % step:
            raise ConfigError(f"depth {self.depth} breaks the {step}n+2 rule for {self.branch} branches with "
                              f"{len(self.widths)} stages")
        if len(self.input_size) != self.dims:
            raise ConfigError(f"input_size {self.input_size} needs {self.dims} entries for dims={self.dims}")
        if not self.widths or min(self.widths) < 1 or self.width_mult <= 0:
            raise ConfigError("widths must be positive and width_mult > 0")
        if self.gate_kernel < 1 or self.gate_kernel % 2 == 0:
            raise ConfigError(f"gate_kernel must be odd and >= 1 (same-size output), got {self.gate_kernel}")

    @property
    def blocks_per_stage(self) -> int:
        return (self.depth - 2) // (len(self.widths) * (2 if self.branch == "basic" else 1))


@dataclass(frozen=True)
class HighwayMLPConfig:
    depth: int = option(8, "number of gated blocks")
    width: int = option(64, "hidden width")
    gate_bias: float = option(-2.0, GATE_BIAS_HELP)
    norm: Literal["batch", "layer", "none"] = option("none", "normalization in H (after the linear layer)")
    activation: Literal["relu", "gelu", "tanh", "identity"] = option("relu", "nonlinearity of H and the stem")
    in_channels: int = option(2, "input features (channels, if the data have spatial dims)")
    num_classes: int = option(2, "outputs: classes, or regression targets")
    input_size: tuple[int, ...] = option((), "spatial dims of the input (flattened); () for plain vectors")
    input_mean: tuple[float, ...] | None = option(None, "per-channel input mean")
    input_std: tuple[float, ...] | None = option(None, "per-channel input std")

    def __post_init__(self) -> None:
        if self.depth < 1 or self.width < 1:
            raise ConfigError("depth and width must be >= 1")


def _conv_branch(cfg: HighwayConfig, c_in: int, c_out: int, stride: int) -> nn.Sequential:
    """H: (N, c_in, *s) -> (N, c_out, *s / stride), conv-norm-act once or twice."""
    d, act, bias = cfg.dims, ACTIVATIONS[cfg.activation], cfg.norm == "none"
    convs = [(c_in, c_out, stride)] + ([(c_out, c_out, 1)] if cfg.branch == "basic" else [])
    layers: list[nn.Module] = []
    for a, b, s in convs:
        layers += [conv(d, a, b, 3, s, bias), norm(cfg.norm, d, b), act()]
    return nn.Sequential(*layers)


def _build_conv(cfg: HighwayConfig, name: str) -> Net:
    d, act = cfg.dims, ACTIVATIONS[cfg.activation]
    widths = [max(1, round(w * cfg.width_mult)) for w in cfg.widths]
    stem = nn.Sequential(conv(d, cfg.in_channels, widths[0], 3, bias=cfg.norm == "none"),
                         norm(cfg.norm, d, widths[0]), act())
    stages, c = [], widths[0]
    for i, w in enumerate(widths):
        blocks: list[Block] = []
        for j in range(cfg.blocks_per_stage):
            if c != w or (i > 0 and j == 0):  # shape change: a plain transition, carry impossible
                stride = 2 if i > 0 else 1
                blocks.append(PlainBlock(_conv_branch(cfg, c, w, stride), shape_preserving=False))
            else:
                blocks.append(GatedBlock(_conv_branch(cfg, w, w, 1), conv(d, w, w, cfg.gate_kernel, bias=True)))
            c = w
        stages.append(blocks)
    pool = nn.AdaptiveAvgPool1d(1) if d == 1 else nn.AdaptiveAvgPool2d(1)
    head = nn.Sequential(pool, nn.Flatten(), nn.Linear(c, cfg.num_classes))
    return Net(cfg, Normalize(cfg.input_mean, cfg.input_std, cfg.in_channels, d), stem, stages, head, name)


def _build_mlp(cfg: HighwayMLPConfig, name: str) -> Net:
    act, w = ACTIVATIONS[cfg.activation], cfg.width
    in_features = cfg.in_channels * math.prod(cfg.input_size)
    blocks = [GatedBlock(nn.Sequential(nn.Linear(w, w), norm(cfg.norm, 0, w), act()), nn.Linear(w, w))
              for _ in range(cfg.depth)]
    stem = nn.Sequential(nn.Flatten(), nn.Linear(in_features, w), act())  # Srivastava et al.: a plain first layer
    head = nn.Linear(w, cfg.num_classes)
    normalize = Normalize(cfg.input_mean, cfg.input_std, cfg.in_channels, len(cfg.input_size))
    return Net(cfg, normalize, stem, [blocks], head, name)


def build_highway(cfg: HighwayConfig | HighwayMLPConfig, name: str = "") -> Net:
    """Build either skeleton; He init as the ResNet families, then every gate bias set to `cfg.gate_bias`."""
    net = _build_mlp(cfg, name) if isinstance(cfg, HighwayMLPConfig) else _build_conv(cfg, name)
    init_weights(net)
    with torch.no_grad():
        for _, block in net.blocks():
            if isinstance(block, GatedBlock):
                block.gate_layer.bias.fill_(cfg.gate_bias)
    return net


def _presets() -> dict[str, tuple[HighwayConfig | HighwayMLPConfig, str]]:
    p: dict[str, tuple[HighwayConfig | HighwayMLPConfig, str]] = {}
    for depth in (20, 56):
        p[f"highway{depth}"] = (HighwayConfig(depth=depth), f"highway twin of resnet{depth}/plain{depth}: basic "
                                                             "branches, gated carries, plain stride-2 transitions")
    p["highwaymlp"] = (HighwayMLPConfig(), "highway MLP (Srivastava et al. 2015) for vectors, twin of resmlp")
    return p


PRESETS = _presets()

register_presets(PRESETS, build_highway)
